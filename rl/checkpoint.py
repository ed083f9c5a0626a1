"""RL run-directory checkpoints: trainable weights, optimizer, every RNG and the prompt sampler.

`checkpoints/step-000050/` is written in one atomic rename. With the sampler state and the
per-step generation seeds (see `rollout.generate`), a resumed run repeats the uninterrupted
run's steps exactly on CPU.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kolang.checkpoint import save_checkpoint
from kolang.errors import RunDirError

CKPT_DIR = "checkpoints"


class PromptSampler:
    """Prompt indices in a fresh seeded permutation per epoch; its whole state is JSON."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.perm: list[int] = []
        self.pos = 0

    def draw(self, k: int) -> list[int]:
        """The next `k` indices, reshuffling at each epoch end."""
        out = []
        while len(out) < k:
            if self.pos >= len(self.perm):
                self.perm, self.pos = self.rng.permutation(self.n).tolist(), 0
            take = self.perm[self.pos: self.pos + k - len(out)]
            out.extend(take)
            self.pos += len(take)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"n": self.n, "rng": self.rng.bit_generator.state, "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["n"] != self.n:
            raise RunDirError(f"the checkpoint was made on {state['n']} records, the data now holds {self.n}")
        self.rng.bit_generator.state = state["rng"]
        self.perm, self.pos = list(state["perm"]), int(state["pos"])


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CKPT_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step-*") if (p / "state.json").is_file())


def save(run_dir: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> Path:
    """Write checkpoint `step` (trainable weights, optimizer, RNGs, and the JSON `state`); returns its path."""
    return save_checkpoint(Path(run_dir) / CKPT_DIR / f"step-{step:06d}", model, optimizer, {"step": step, **state})


def prune(run_dir: Path, keep: int, protect: int | None = None) -> None:
    """Delete all but the newest `keep` checkpoints, never the one at step `protect`."""
    dirs = checkpoint_dirs(run_dir)
    for p in dirs[: max(0, len(dirs) - keep)]:
        if protect is None or p.name != f"step-{protect:06d}":
            shutil.rmtree(p, ignore_errors=True)


