"""Training checkpoints shared by every stage: trainable weights, optimizer, every RNG, a JSON state.

A checkpoint directory is written in one atomic rename. Only parameters that require grad are
saved, so a LoRA or neuron-adapter checkpoint is as small as the adapter.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from kolang.errors import RunDirError
from kolang.io import atomic_dir, holds_only

FILES = ("trainable.safetensors", "optimizer.pt", "state.json")  # what a checkpoint directory holds


def rng_state() -> dict[str, Any]:
    """The torch, CUDA, NumPy and Python generator states."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(rng: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(rng["torch"])
    if rng.get("numpy") is not None:
        np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict[str, Any]) -> Path:
    """Write trainable weights, optimizer, RNGs and the JSON `state` to directory `path`, atomically."""
    path = Path(path)
    with atomic_dir(path, holds_only(FILES)) as tmp:
        trained = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(trained, str(tmp / "trainable.safetensors"))
        buf = io.BytesIO()
        torch.save({"optimizer": optimizer.state_dict(), "rng": rng_state()}, buf)
        (tmp / "optimizer.pt").write_bytes(buf.getvalue())
        (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")
    return path


def _unreadable(path: Path, e: Exception) -> RunDirError:
    return RunDirError(f"checkpoint {path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:120]}); it "
                       "was cut short or damaged: move it away to resume from an earlier one, or start a new run")


def load_trainable(path: str | Path, model: nn.Module) -> None:
    """Copy a checkpoint's trainable weights into `model`; refuse a checkpoint of another model or adapter."""
    params = dict(model.named_parameters())
    try:
        tensors = load_file(str(Path(path) / "trainable.safetensors"))
    except Exception as e:  # safetensors raises its own error types for a truncated or foreign file
        raise _unreadable(Path(path), e) from None
    unknown = [n for n in tensors if n not in params]
    if unknown or len(tensors) != sum(p.requires_grad for p in params.values()):
        raise RunDirError(f"{path} does not match the model being trained ({len(unknown)} unknown tensors); "
                          "was the run started with another model or adapter?")
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore weights, optimizer and RNGs from checkpoint directory `path`; returns its JSON state."""
    path = Path(path)
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        extra = torch.load(path / "optimizer.pt", weights_only=False, map_location="cpu")
    except Exception as e:  # a truncated pickle or JSON file raises one of many types
        raise _unreadable(path, e) from None
    load_trainable(path, model)
    try:
        optimizer.load_state_dict(extra["optimizer"])
    except (KeyError, ValueError, TypeError) as e:
        raise RunDirError(f"checkpoint {path} holds the optimizer of another run ({e}); start a new run") from None
    set_rng_state(extra["rng"])
    return state
