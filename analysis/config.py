"""Configs of the analysis stages, one docstring a field (the CLI help); free of torch, so the
command line lists their options without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kolang.errors import ConfigError

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

    def __post_init__(self) -> None:
        if self.every < 1 or self.probe_size < 1:
            raise ConfigError(f"--every and --probe-size must be at least 1, got {self.every} and {self.probe_size}")
        if self.max_length < 2 or self.token_budget < self.max_length:
            raise ConfigError("need --max-length >= 2 and --token-budget >= --max-length")
        if self.weights not in WEIGHT_MODES:
            raise ConfigError(f"--weights must be one of {', '.join(WEIGHT_MODES)}, got '{self.weights}'")
