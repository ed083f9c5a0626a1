"""Run-directory checkpoints: trainable weights, optimizer and RNG state, written atomically.

Only what trains is saved (the sparse deltas for the neuron adapter), so a checkpoint is as
small as the adapter. Batches are a pure function of the step (`batch_rows`), so a resumed run
sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from kolang import checkpoint as ckpt

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
    ckpt.save_checkpoint(run_dir / CKPT, model, optimizer, {"step": step})


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """The run's complete checkpoint, as a list (empty when none was written yet)."""
    return [run_dir / CKPT] if (run_dir / CKPT / "state.json").is_file() else []


def load_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore weights, optimizer and RNG from `run_dir/checkpoint`; returns the step to continue at (0 if none)."""
    if not (run_dir / CKPT / "state.json").is_file():
        return 0
    return int(ckpt.load_checkpoint(run_dir / CKPT, model, optimizer)["step"])
