"""Merging: write a tuned model as a plain Hugging Face directory that loads with no kolang."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft import PeftModel
from torch import nn

from kolang.io import atomic_dir, holds_only
from kolang.models import MODEL_FILES, load_model
from kolang.tuning.adapter import register


def merged_model(model: nn.Module) -> nn.Module:
    """The base model with any PEFT adapter (sparse neuron, LoRA) folded into its weights."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def save_merged(model: nn.Module, tokenizer: Any, out: str | Path) -> Path:
    """Merge adapters into `model` and write it (safetensors + config + tokenizer) to `out`, atomically."""
    base = merged_model(model)
    with atomic_dir(out, holds_only(MODEL_FILES)) as tmp:
        base.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
    return Path(out)


def merge_adapter_dir(base_dir: str | Path, adapter_dir: str | Path, out: str | Path) -> Path:
    """Load a base model directory and a saved sparse-neuron (or LoRA) adapter, merge, write `out`."""
    register()  # PEFT must know the sparse neuron type before it reads an adapter_config.json
    model, tok = load_model(base_dir, dtype="auto", device="cpu")
    return save_merged(PeftModel.from_pretrained(model, str(adapter_dir)), tok, out)
