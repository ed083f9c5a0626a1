"""Settings of the pipeline runs: the `Budget` shared by `kolang demo` and `kolang experiment`, and
each command's own config. Kept free of torch, so the command line lists the options without it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kolang.errors import ConfigError

# SFT data mixes of `Budget.sft`.
SFT_MIXES = ("consistent", "codeswitch")


@dataclass(frozen=True)
class Budget:
    """The organism, the Korean set and the per-stage budgets shared by `kolang demo` and `kolang experiment`."""

    size: str = "full"
    """Organism size: full, or micro for a one-minute smoke run."""
    method: str = "ap"
    """Selection method for the Korean neurons (AP: the set whose ablation the organism's card measures)."""
    top_fraction: float | None = 0.05
    """Fraction of all neurons kept as the Korean set, ranked globally (with AP: 5% each way)."""
    per_layer: int | None = None
    """Korean neurons selected in each layer, instead of --top-fraction."""
    tune_steps: int = 150
    """Masked SFT steps."""
    sft: str = "consistent"
    """SFT data: consistent (Korean questions with Korean solutions, English with English, half each)
    or codeswitch (self-correcting code-switched traces, half, and Korean->Korean solutions)."""
    tune_lr: float = 1e-3
    """Tuning learning rate."""
    rl_steps: int = 200
    """GRPO steps after tuning (about a second each on the organism)."""
    rl_lr: float = 3e-5
    """GRPO learning rate."""
    eval_problems: int = 200
    """Held-out problems asked in each language at each evaluation (greedy, and 4 samples at temperature 1)."""

    def __post_init__(self) -> None:
        if self.size not in ("full", "micro"):
            raise ConfigError(f"--size must be full or micro, got '{self.size}'")
        if self.sft not in SFT_MIXES:
            raise ConfigError(f"--sft must be one of {', '.join(SFT_MIXES)}, got '{self.sft}'")
        for name in ("tune_steps", "eval_problems"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be ≥ 1")
        if self.rl_steps < 0:
            raise ConfigError("--rl-steps must be ≥ 0")


@dataclass(frozen=True)
class DemoConfig(Budget):
    """What `kolang demo` runs; the defaults fit 15 minutes on two CPU cores from a cold cache."""

    cache: str | None = None
    """Organism cache folder (default ~/.cache/kolang or $KOLANG_CACHE)."""
    seed: int = 0
    """Seed of the organism, the data and every stage."""
    layers: str = "0:2"
    """Early layers whose Korean neurons are tuned."""


# arm name -> (adapter for tuning or None for RL only, which layers: "early" or "late", language reward weight)
ARMS: dict[str, tuple[str | None, str, float]] = {
    "rl_only_accuracy_reward": (None, "early", 0.0),
    "rl_only": (None, "early", 1.0),
    "ko_neurons_early+rl": ("neurons", "early", 1.0),
    "ko_neurons_early+rl_accuracy_reward": ("neurons", "early", 0.0),
    "random_neurons_early+rl": ("random", "early", 1.0),
    "lora_early+rl": ("lora", "early", 1.0),
    "full_early+rl": ("full", "early", 1.0),
    "ko_neurons_late+rl": ("neurons", "late", 1.0),
}


@dataclass(frozen=True)
class ExperimentConfig(Budget):
    """The arms and seeds of `kolang experiment`; every arm gets the same `Budget`."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of the tuning and RL runs (the organism and the data stay fixed)."""
    arms: tuple[str, ...] = tuple(ARMS)
    """Arms to run (default: all eight)."""
    early: str = "0:2"
    """Early layers (tuned in the early-layer arms)."""
    late: str = "4:6"
    """Late layers (tuned in the late-layer arm)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown:
            raise ConfigError(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ARMS)}")
        if not self.seeds:
            raise ConfigError("give at least one seed")


# The experiment table's columns (kolang.pipeline.experiment.summarise).
COLUMNS = ("tuned_ko_accuracy", "tuned_ko_korean_share", "tuned_en_accuracy", "ko_accuracy", "ko_korean_share",
           "en_accuracy", "final_iou", "wall_s")  # tuned_*: after tuning, before RL (the base model for rl_only)


# What a demo folder holds (and all `--fresh` may delete).
DEMO_WRITES = ("demo_config.json", "data", "neurons", "validate", "eval", "tune", "rl", "lens", "summary.json",
               "report.html")

# What an experiment folder holds (and all `--fresh` may delete).
EXPERIMENT_WRITES = ("data", "neurons", "eval", "runs", "experiment.json", "report.html")
