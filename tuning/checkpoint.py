"""Run-directory checkpoints: trainable weights, optimizer and RNG state, written atomically.

Only what trains is saved (the sparse deltas for the neuron adapter), so a checkpoint is as
small as the adapter. Batches are a pure function of the step (`batch_rows`), so a resumed run
sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from kolang.errors import RunDirError
from kolang.io import atomic_dir

CKPT = "checkpoint"


def batch_rows(step: int, batch_size: int, n: int, seed: int) -> list[int]:
    """Rows of batch `step`: a fresh seeded permutation per epoch, read in order across epoch ends."""
    rows = []
    for pos in range(step * batch_size, (step + 1) * batch_size):
        epoch, i = divmod(pos, n)
        perm = _perm(n, seed, epoch)
        rows.append(int(perm[i]))
    return rows


_PERMS: dict[tuple[int, int, int], torch.Tensor] = {}


def _perm(n: int, seed: int, epoch: int) -> torch.Tensor:
    key = (n, seed, epoch)
    if key not in _PERMS:
        _PERMS.clear()  # one epoch at a time is all a run needs
        _PERMS[key] = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return _PERMS[key]


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Name -> tensor of every parameter that requires grad."""
    return {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
    """Write `run_dir/checkpoint` (weights, optimizer, RNG, step) in one atomic rename."""
    rng = {"torch": torch.get_rng_state(), "python": random.getstate(),
           "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    with atomic_dir(run_dir / CKPT) as tmp:
        save_file({n: t.cpu() for n, t in trainable_state(model).items()}, str(tmp / "trainable.safetensors"))
        buf = io.BytesIO()
        torch.save({"optimizer": optimizer.state_dict(), "rng": rng}, buf)
        (tmp / "optimizer.pt").write_bytes(buf.getvalue())
        (tmp / "state.json").write_text(json.dumps({"step": step}))


def load_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore weights, optimizer and RNG from `run_dir/checkpoint`; returns the step to continue at (0 if none)."""
    ckpt = run_dir / CKPT
    if not (ckpt / "state.json").is_file():
        return 0
    params = dict(model.named_parameters())
    tensors = load_file(str(ckpt / "trainable.safetensors"))
    missing = [n for n in tensors if n not in params]
    if missing or len(tensors) != sum(p.requires_grad for p in params.values()):
        raise RunDirError(f"{ckpt} does not match the model being tuned ({len(missing)} unknown tensors); "
                          "was the run started with another model or adapter?")
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t)
    extra: dict[str, Any] = torch.load(ckpt / "optimizer.pt", weights_only=False, map_location="cpu")
    optimizer.load_state_dict(extra["optimizer"])
    torch.set_rng_state(extra["rng"]["torch"])
    random.setstate(extra["rng"]["python"])
    if extra["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(extra["rng"]["cuda"])
    return int(json.loads((ckpt / "state.json").read_text())["step"])
