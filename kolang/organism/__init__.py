"""The model organism: a small Qwen2 model trained locally on bilingual word problems so that it
answers Korean questions with English reasoning, the collapse the rest of kolang sets out to fix."""

from __future__ import annotations

from kolang.organism.build import build, cache_root, is_valid, load, organism_dir, read_card
from kolang.organism.config import SIZES, VERSION, OrganismConfig, get_config

__all__ = ["SIZES", "VERSION", "OrganismConfig", "build", "cache_root", "get_config", "is_valid", "load",
           "organism_dir", "read_card"]
