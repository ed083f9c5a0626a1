"""`TuneConfig`: every option of a `kolang tune` run, one docstring a field (the CLI help).

Kept free of torch and PEFT, so the command line can list its options without importing them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from kolang.errors import ConfigError
from kolang.loading import SourceConfig

# What trains under `--adapter` (see kolang.tuning.trainable).
KINDS = ("neurons", "random", "lora", "full", "gradmask")


@dataclass(frozen=True)
class TuneConfig(SourceConfig):
    """Everything a `kolang tune` run depends on; saved resolved in the run's config.json."""

    model: str = field(default="", metadata={"cli": False})
    """Model to tune: a Hugging Face folder, or a hub id at --revision."""
    data: str = field(default="", metadata={"cli": False})
    """SFT data: JSONL of {"prompt", "completion"} or chat {"messages"} records."""
    out: str = field(default="", metadata={"cli": False})
    """Run directory to create (or resume)."""
    neurons: Optional[str] = field(default=None, metadata={"cli": False})
    """NeuronSet directory (needed by the neurons, random and gradmask adapters)."""
    adapter: str = "neurons"
    """What trains: neurons (selected neurons only), random (a matched random set), lora (LoRA on the same layers' MLPs), full (every weight of the layers), gradmask (dense masking, for checks)."""
    layers: Optional[str] = None
    """Layer range to tune, e.g. 0:8 (default: the first quarter of the layers)."""
    steps: int = 200
    """Optimizer steps."""
    batch_size: int = 8
    """Samples per step."""
    lr: float = 5e-4
    """Learning rate (constant)."""
    weight_decay: float = 0.0
    """Decoupled weight decay (on the deltas for adapters, masked to the neurons for gradmask)."""
    optimizer: str = "adamw"
    """adamw or sgd."""
    max_length: int = 512
    """Longest sample in tokens; longer samples are skipped and counted, never truncated."""
    lora_r: int = 8
    """LoRA rank (adapter lora)."""
    train_bias: bool = False
    """Also train the selected neurons' gate/up biases where the model has them."""
    seed: int = 0
    """Seed of the data order and of the random control set."""
    save_every: int = 50
    """Write a checkpoint every this many steps (and at the end)."""
    merge: bool = False
    """Also write merged/, a plain HF model directory with the adapter folded in."""
    dtype: str = "float32"
    """Model dtype: float32, bf16, fp16, auto."""
    device: Optional[str] = None
    """cpu, cuda, cuda:1 … (default: cuda if present)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.adapter not in KINDS:
            raise ConfigError(f"--adapter must be one of {', '.join(KINDS)}, got '{self.adapter}'")
        if self.optimizer not in ("adamw", "sgd"):
            raise ConfigError(f"--optimizer must be adamw or sgd, got '{self.optimizer}'")
        for name in ("steps", "batch_size", "max_length", "lora_r", "save_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0) or not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"--lr must be a finite number > 0 and --weight-decay finite and >= 0, got {self.lr} and "
                              f"{self.weight_decay}")
        if self.adapter in ("neurons", "random", "gradmask") and not self.neurons:
            raise ConfigError(f"--adapter {self.adapter} needs --neurons DIR (a NeuronSet from `kolang discover`)")
