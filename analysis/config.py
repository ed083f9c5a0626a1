"""Configs of the analysis stages, one docstring a field (the CLI help); free of torch, so the
command line lists their options without importing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from kolang.analysis.language import target_scripts
from kolang.data.schemas import SCHEMAS
from kolang.errors import ConfigError

VALIDATION_FILES = ("validation.json", "validation.html")  # what `kolang validate --out` writes
DRIFT_FILE = "drift.jsonl"  # one JSON line a measurement, in a run folder or `kolang drift --out`
DRIFT_FILES = (DRIFT_FILE, "drift.html")  # what `kolang drift --out` writes
EVAL_FILE, COMPLETIONS_FILE = "eval.json", "completions.jsonl"
EVAL_FILES = (EVAL_FILE, COMPLETIONS_FILE)  # what `kolang eval --out` writes


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
    min_ratio: float = 3.0
    """The verdict passes when the target's NLL rises at least this many times every reference language's
    (and more than every random set's)."""
    context_field: str | None = None
    """Column of the --data records holding what each text follows (a question before its solution): the text is
    scored after it, given as a user turn through the model's chat template, and only the text's tokens count."""

    def __post_init__(self) -> None:
        if self.context_field is not None and not self.context_field.strip():
            raise ConfigError("--context-field needs a column name")
        if not (math.isfinite(self.min_ratio) and self.min_ratio >= 1):
            raise ConfigError(f"--min-ratio must be a finite number ≥ 1, got {self.min_ratio}")
        if self.n_random < 1:
            raise ConfigError(f"--n-random must be ≥ 1: without a random control set nothing says the set is "
                              f"special, got {self.n_random}")
        if self.max_texts is not None and self.max_texts < 1:
            raise ConfigError(f"--max-texts must be ≥ 1 (texts read per language), got {self.max_texts}")
        if self.max_length < 2 or self.token_budget < self.max_length:
            raise ConfigError("need --max-length ≥ 2 and --token-budget ≥ --max-length")


@dataclass(frozen=True)
class EvalConfig:
    """How `kolang eval` measures a model on a problem set."""

    target: str = "ko"
    """Language whose share of the thought and of the answer is measured (ko, en, fr, uk, zh, ja …)."""
    samples: int = 4
    """Sampled completions a problem (k of avg@k and pass@k)."""
    temperature: float = 0.6
    """Sampling temperature of the sampled completions (DeepSeek-R1 evaluates at 0.6, top-p 0.95)."""
    top_p: float = 0.95
    """Nucleus mass of the sampled completions."""
    greedy: bool = True
    """Also decode one greedy completion a problem."""
    max_new_tokens: int = 512
    """New tokens a completion at most; one that reaches it counts as truncated."""
    batch_size: int = 64
    """Completions generated at once (a problem's samples share one prompt prefill)."""
    seed: int = 0
    """Seed of the sampling and of the bootstrap."""
    thinking: Optional[bool] = None
    """Qwen3's enable_thinking flag for the chat template (default: the template's own)."""
    bootstrap: int = 1000
    """Bootstrap resamples of the problems for each 95% interval."""
    schema: str = "auto"
    """Fields of the data: auto, kolang (prompt, answer), gsm8k (question, answer with #### N), mgsm (question,
    answer_number), hrm8k (question, answer), math (problem, solution with \\boxed{})."""
    lang: Optional[str] = None
    """Language of the prompts of records without a lang field (sets are reported per lang)."""
    limit: Optional[int] = None
    """Evaluate the first this many problems only."""

    def __post_init__(self) -> None:
        target_scripts(self.target)  # an unknown target is refused before any model loads
        if self.samples < 1:
            raise ConfigError(f"--samples must be at least 1 (the k of avg@k and pass@k), got {self.samples}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"--temperature must be > 0 (greedy decoding is --greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"--top-p must lie in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ConfigError("--max-new-tokens and --batch-size must be at least 1")
        if self.bootstrap < 100:
            raise ConfigError(f"--bootstrap needs at least 100 resamples for a 95% interval, got {self.bootstrap}")
        if self.schema not in SCHEMAS:
            raise ConfigError(f"--schema must be one of {', '.join(SCHEMAS)}, got '{self.schema}'")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
