"""Configs of the analysis stages, one docstring a field (the CLI help); free of torch, so the
command line lists their options without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kolang.errors import ConfigError

VALIDATION_FILES = ("validation.json", "validation.html")  # what `kolang validate --out` writes
DRIFT_FILE = "drift.jsonl"  # one JSON line a measurement, in a run folder or `kolang drift --out`
DRIFT_FILES = (DRIFT_FILE, "drift.html")  # what `kolang drift --out` writes


# On the organism's GRPO loop (the demo's RL stage: 8 prompts x G=6, 64 tokens, 2 CPU threads) a step
# takes about 0.8 s and one measurement with a 32-per-language probe 0.11-0.16 s, so measuring every
# 10 steps costs about 2% of the run's wall time (benchmarks/drift_overhead.py).
DEFAULT_EVERY = 10
DEFAULT_PROBE_SIZE = 32  # probe texts per language
WEIGHT_MODES = ("trainable", "neurons", "all")


@dataclass(frozen=True)
class DriftConfig:
    """How drift is measured during or after training."""

    every: int = DEFAULT_EVERY
    """Measure every this many optimizer steps (and at the last step)."""
    probe_size: int = DEFAULT_PROBE_SIZE
    """Bundled probe texts per language (half word problems, half sentences) when no probe file is given."""
    probe_seed: int = 0
    """Seed of the bundled probe: the same seed gives the same probe."""
    max_length: int = 128
    """Truncate each probe text to this many tokens."""
    token_budget: int = 8192
    """Tokens per forward batch when reading the probe."""
    weights: str = "trainable"
    """Weights copied at the start for deltas: trainable (what can change), neurons (MLP neuron weights only), all."""
    reselect: str | None = None
    """Selection method re-run on the probe at each measurement (default: the set's own; needed for sets
    that cannot be re-run, such as random or imported ones): lape, contrast or ap."""

    def __post_init__(self) -> None:
        if self.every < 1 or self.probe_size < 1:
            raise ConfigError(f"--every and --probe-size must be at least 1, got {self.every} and {self.probe_size}")
        if self.max_length < 2 or self.token_budget < self.max_length:
            raise ConfigError("need --max-length >= 2 and --token-budget >= --max-length")
        if self.weights not in WEIGHT_MODES:
            raise ConfigError(f"--weights must be one of {', '.join(WEIGHT_MODES)}, got '{self.weights}'")


@dataclass(frozen=True)
class ValidateConfig:
    """How `kolang validate` ablates a neuron set against layer-matched random sets."""

    n_random: int = 3
    """Layer-matched random control sets to ablate (at least one: the control is the point)."""
    seed: int = 0
    """Seed of the first random control set (the k-th uses seed + k)."""
    max_texts: int | None = None
    """Read at most this many texts per language (default: all)."""
    max_length: int = 512
    """Truncate each text to this many tokens."""
    token_budget: int = 16384
    """Tokens per forward batch (batch size x longest text)."""

    def __post_init__(self) -> None:
        if self.n_random < 1:
            raise ConfigError(f"--n-random must be ≥ 1: without a random control set nothing says the set is "
                              f"special, got {self.n_random}")
        if self.max_texts is not None and self.max_texts < 1:
            raise ConfigError(f"--max-texts must be ≥ 1 (texts read per language), got {self.max_texts}")
        if self.max_length < 2 or self.token_budget < self.max_length:
            raise ConfigError("need --max-length ≥ 2 and --token-budget ≥ --max-length")
