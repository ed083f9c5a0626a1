"""Masked fine-tuning: the sparse neuron adapter (`adapter/`, a PEFT tuner), what trains under each
`--adapter` kind (`trainable.py`), masked SFT (`sft.py`, configured by `config.TuneConfig`) and merging."""
