"""Settings of the pipeline runs: the `Budget` shared by `kolang demo` and `kolang experiment`, and
each command's own config. Kept free of torch, so the command line lists the options without it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kolang.errors import ConfigError
from kolang.organism.config import get_config

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
    rl_steps: int = 100
    """GRPO steps after tuning (1.6 s each on the organism on two cores; over the demo's 100 steps the sampled
    accuracy rises from 0.16 to 0.52). 100 keeps the whole experiment (45 RL runs) within 3 h on two cores."""
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
    """What `kolang demo` runs; the defaults aim at 5 minutes on two CPU cores (the organism is shipped)."""

    cache: str | None = None
    """Organism cache folder (default ~/.cache/kolang or $KOLANG_CACHE)."""
    seed: int = 0
    """Seed of the organism, the data and every stage."""
    layers: str = "0:2"
    """Early layers whose Korean neurons are tuned."""


@dataclass(frozen=True)
class Arm:
    """One arm of `kolang experiment`: what is tuned before RL, and how RL rewards and filters."""

    adapter: str | None
    """Tuning before RL (neurons, random, lora, full), or None for RL only."""
    where: str = "early"
    """Which layers are tuned: early or late (`ExperimentConfig.early` / `late`)."""
    language_weight: float = 1.0
    """Weight of the Korean-consistency reward (0: the accuracy reward alone)."""
    sft: str = "consistent"
    """SFT data (`SFT_MIXES`): consistent (plain Korean->Korean solutions) or codeswitch (S1's self-correcting
    code-switched traces)."""
    filter_groups: bool = True
    """Balanced online difficulty filtering (S5): drop groups that all solve or all fail."""


ARMS: dict[str, Arm] = {
    "rl_only": Arm(None),
    "rl_only_accuracy_reward": Arm(None, language_weight=0.0),
    "rl_only_no_filter": Arm(None, filter_groups=False),
    "s1_codeswitch_early+rl": Arm("neurons", sft="codeswitch"),
    "s1_codeswitch_early+rl_no_filter": Arm("neurons", sft="codeswitch", filter_groups=False),
    "ko_neurons_early+rl": Arm("neurons"),
    "ko_neurons_early+rl_accuracy_reward": Arm("neurons", language_weight=0.0),
    "random_neurons_early+rl": Arm("random"),
    "lora_early+rl": Arm("lora"),
    "full_early+rl": Arm("full"),
    "ko_neurons_late+rl": Arm("neurons", where="late"),
}
BASELINE_ARM = "rl_only"
SWEEP_METHOD = "s1_codeswitch_early+rl"  # S1's method, run beside RL only on each organism of the sweep
# Paired comparisons beyond "each arm vs RL only": name -> (arm, minus this arm).
COMPARISONS = {
    "s4_cost_of_the_consistency_reward": ("ko_neurons_early+rl", "ko_neurons_early+rl_accuracy_reward"),
    "s5_filtering_rl_only": ("rl_only", "rl_only_no_filter"),
    "s5_filtering_s1": ("s1_codeswitch_early+rl", "s1_codeswitch_early+rl_no_filter"),
    # what the Korean-neuron arm owes to each of its choices: S1's data over plain Korean solutions, the Korean set
    # over a layer-matched random one, neurons over LoRA and full tuning of the same layers, early over late layers
    "s1_data_over_plain_sft": ("s1_codeswitch_early+rl", "ko_neurons_early+rl"),
    "korean_set_over_random_set": ("ko_neurons_early+rl", "random_neurons_early+rl"),
    "neurons_over_lora": ("ko_neurons_early+rl", "lora_early+rl"),
    "neurons_over_full_tuning": ("ko_neurons_early+rl", "full_early+rl"),
    "early_over_late_layers": ("ko_neurons_early+rl", "ko_neurons_late+rl"),
}


@dataclass(frozen=True)
class ExperimentConfig(Budget):
    """The arms and seeds of `kolang experiment`; every arm gets the same `Budget`."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of the tuning and RL runs (the organism and the data stay fixed)."""
    arms: tuple[str, ...] = tuple(ARMS)
    """Arms to run (default: all of them)."""
    early: str = "0:2"
    """Early layers (tuned in the early-layer arms)."""
    late: str = "4:6"
    """Late layers (tuned in the late-layer arm)."""
    sweep: tuple[float, ...] = (0.0, 0.03, 0.12)
    """Korean->Korean shares of the organism's training mix to sweep (the recipe's is 0): an organism variant is
    trained for each other share and `sweep_arms` run on it, to see how much inherent Korean reasoning makes RL
    alone enough. Empty: no sweep."""
    sweep_arms: tuple[str, ...] = (BASELINE_ARM, SWEEP_METHOD)
    """Arms run on each organism of the sweep."""

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [a for a in (*self.arms, *self.sweep_arms) if a not in ARMS]
        if unknown:
            raise ConfigError(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ARMS)}")
        if not self.seeds:
            raise ConfigError("give at least one seed")
        for share in self.sweep:
            try:
                get_config(self.size, share)
            except ConfigError as e:
                raise ConfigError(f"--sweep: {e}") from None

    def quick(self) -> "ExperimentConfig":
        """The same arms with one seed and a fraction of the budget, and no sweep (each of its organisms trains for
        half an hour): a look in minutes, not the result."""
        return replace(self, seeds=self.seeds[:1], tune_steps=min(self.tune_steps, 60), rl_steps=min(self.rl_steps, 40),
                       eval_problems=min(self.eval_problems, 100), sweep=())


# The experiment table's columns (kolang.pipeline.experiment.summarise).
COLUMNS = ("tuned_ko_accuracy", "tuned_ko_korean_share", "tuned_en_accuracy", "ko_accuracy", "ko_korean_share",
           "en_accuracy", "final_iou", "wall_s")  # tuned_*: after tuning, before RL (the base model for rl_only)
# S5's efficiency columns: the share of sampled groups filtering kept, the tokens RL generated (kept or not), and
# the held-out Korean avg@4 gained over the run's starting model per million generated tokens.
S5_COLUMNS = ("kept_fraction", "rl_generated_tokens", "ko_sampled_gain_per_mtok")


# What a demo folder holds (and all `--fresh` may delete).
DEMO_WRITES = ("demo_config.json", "data", "neurons", "validate", "eval", "tune", "rl", "lens", "summary.json",
               "report.html")

# What an experiment folder holds (and all `--fresh` may delete).
EXPERIMENT_WRITES = ("data", "neurons", "eval", "runs", "sweep", "experiment.json", "report.html")
