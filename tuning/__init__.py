"""The sparse neuron adapter, masked SFT and merging."""
