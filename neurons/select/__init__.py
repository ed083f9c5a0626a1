"""Selection methods: a registry, one file per method."""
