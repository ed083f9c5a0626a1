"""RL run-directory checkpoints: trainable weights, optimizer, every RNG and the prompt sampler.

`checkpoints/step-000050/` is written in one atomic rename. With the sampler state and the
per-step generation seeds (see `rollout.generate`), a resumed run repeats the uninterrupted
run's steps exactly on CPU.
"""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from kolang.errors import RunDirError
from kolang.io import atomic_dir

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
    rng = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
           "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    path = Path(run_dir) / CKPT_DIR / f"step-{step:06d}"
    with atomic_dir(path) as tmp:
        # only what trains is saved: a LoRA or neuron-adapter checkpoint is as small as the adapter
        trained = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(trained, str(tmp / "trainable.safetensors"))
        buf = io.BytesIO()
        torch.save({"optimizer": optimizer.state_dict(), "rng": rng}, buf)
        (tmp / "optimizer.pt").write_bytes(buf.getvalue())
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}), encoding="utf-8")
    return path


def load_weights(path: Path, model: nn.Module) -> None:
    """Copy a checkpoint's trainable weights into `model`."""
    params = dict(model.named_parameters())
    tensors = load_file(str(Path(path) / "trainable.safetensors"))
    unknown = [n for n in tensors if n not in params]
    if unknown or len(tensors) != sum(p.requires_grad for p in params.values()):
        raise RunDirError(f"{path} does not match the model being trained ({len(unknown)} unknown tensors); "
                          "was the run started with another model or --trainable?")
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))


def load(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore weights, optimizer and RNGs from checkpoint `path`; returns its JSON state (with "step")."""
    load_weights(path, model)
    extra = torch.load(Path(path) / "optimizer.pt", weights_only=False, map_location="cpu")
    optimizer.load_state_dict(extra["optimizer"])
    rng = extra["rng"]
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return json.loads((Path(path) / "state.json").read_text(encoding="utf-8"))


def prune(run_dir: Path, keep: int, protect: int | None = None) -> None:
    """Delete all but the newest `keep` checkpoints, never the one at step `protect`."""
    dirs = checkpoint_dirs(run_dir)
    for p in dirs[: max(0, len(dirs) - keep)]:
        if protect is None or p.name != f"step-{protect:06d}":
            shutil.rmtree(p, ignore_errors=True)


