"""The model organism: a small Qwen2 model trained locally on bilingual word problems so that it
answers Korean questions with English reasoning, the collapse the rest of kolang sets out to fix.

This package holds the recipe (config, corpus, tokenizer, training) and the cache; building one
with its card of measurements is `kolang.pipeline.organism.build`.
"""

from __future__ import annotations

from kolang.organism.cache import cache_root, is_valid, organism_dir, read_card, train_weights
from kolang.organism.config import SIZES, VERSION, OrganismConfig, get_config

__all__ = ["SIZES", "VERSION", "OrganismConfig", "cache_root", "get_config", "is_valid", "organism_dir", "read_card",
           "train_weights"]
