"""Data loading and the bundled task and sentence generators."""
