"""`RLConfig`: every option of a `kolang rl` run, one docstring a field (the CLI help).

Defaults follow DAPO / Dr. GRPO where those papers measured a choice (clip-higher, token-level
aggregation, no KL, difficulty filtering) and TRL's GRPOTrainer otherwise: the loss options TRL also
has default as in TRL 1.16 (advantage scaling, aggregation, the importance-weighted KL term,
truncation masking) except `epsilon_high`, which TRL leaves equal to `epsilon`; with the same
options the loss and its gradient equal TRL's (tests/rl/test_trl_loss.py). Group size and lengths
are smaller than TRL's, to suit a CPU. Kept free of torch, so the command line can list the options
without importing it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional

from kolang.data.thought import PARTS
from kolang.errors import ConfigError
from kolang.loading import SourceConfig

TRAINABLE = ("full", "lora", "neurons")
SCALES = ("group", "batch", "none")  # advantage scaling (kolang.rl.advantages)
AGGREGATIONS = ("token", "sequence", "constant")  # loss aggregation (kolang.rl.loss)
COLLAPSE_ACTIONS = ("warn", "stop", "rollback")
COLLAPSE_SHARES = ("reward", "thought", "answer")  # which metrics.jsonl share the collapse monitor bounds

# Options that may change when a run is resumed: how long and how it runs, where its folder and data now
# live (the data digest in config.json must still match), and the revision naming its start (the commit
# it resolves to must still match).
RESUMABLE_CHANGES = ("steps", "device", "threads", "force", "collapse_action", "drift_every", "out", "data",
                     "revision")


@dataclass(frozen=True)
class RLConfig(SourceConfig):
    """Everything a `kolang rl` run depends on; saved resolved in the run's config.json."""

    model: str = field(default="", metadata={"cli": False})
    """Model to train: a Hugging Face folder, or a hub id at --revision."""
    data: str = field(default="", metadata={"cli": False})
    """RL data: JSONL of {"prompt", "answer", "lang"} records."""
    out: str = field(default="", metadata={"cli": False})
    """Run directory to create (or resume)."""
    neurons: Optional[str] = field(default=None, metadata={"cli": False})
    """NeuronSet directory (needed by --trainable neurons)."""
    target: str = "ko"
    """Language the reasoning should be in (language code: ko, en, ja, zh …)."""
    trainable: str = "full"
    """What trains: full (every weight), lora (LoRA on every linear layer), neurons (sparse neuron adapter on --neurons)."""
    layers: Optional[str] = None
    """Layers whose neurons train with --trainable neurons, e.g. 0:8 (default: every layer of the set)."""
    lora_r: int = 8
    """LoRA rank (--trainable lora)."""
    steps: int = 100
    """Optimizer steps (one batch of groups each)."""
    prompts_per_step: int = 4
    """Prompt groups per step after difficulty filtering."""
    group_size: int = 4
    """Completions per prompt (G)."""
    max_prompt_length: int = 256
    """Prompts longer than this many tokens are left-truncated."""
    max_completion_length: int = 128
    """New tokens per completion at most."""
    temperature: float = 1.0
    """Sampling temperature (also divides the logits when scoring log-probs, as in TRL)."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    generation_batch_size: int = 32
    """Sequences generated at once."""
    micro_batch_size: int = 8
    """Sequences per forward/backward pass (gradients accumulate to the full batch); rounded down to whole
    groups, at least one, while prompts are shared."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more compute. Either way each
    group's prompt is computed once for its G completions (exact, up to G times less prompt work)."""
    lr: float = 1e-6
    """Learning rate (AdamW, constant)."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip (0 turns it off)."""
    epsilon: float = 0.2
    """Lower clip range of the importance ratio."""
    epsilon_high: Optional[float] = 0.28
    """Upper clip range (DAPO clip-higher); unset means equal to --epsilon."""
    beta: float = 0.0
    """KL coefficient to a frozen reference model (k3 estimator); 0 loads no reference."""
    kl_bias_correction: bool = True
    """Weight the KL term by the importance ratio, which makes it unbiased for the current policy (DeepSeek-V3.2;
    TRL's use_bias_correction_kl, on by default there too); acts only with --beta > 0."""
    num_iterations: int = 1
    """Optimizer passes over each batch of rollouts (mu); old log-probs are kept across them."""
    scale_rewards: str = "group"
    """Advantage scaling: group (by group std), batch (by batch std), none (Dr. GRPO)."""
    loss_aggregation: str = "token"
    """Loss aggregation: token (over all tokens of the batch), sequence (per completion), constant (Dr. GRPO)."""
    mask_truncated: bool = False
    """Give no loss to completions that hit --max-completion-length without eos (DAPO overlong filtering)."""
    filter_groups: bool = True
    """Keep only groups whose accuracy lies strictly inside (--filter-low, --filter-high) and refill the batch."""
    filter_low: float = 0.0
    """Lower accuracy bound of a kept group (exclusive)."""
    filter_high: float = 1.0
    """Upper accuracy bound of a kept group (exclusive)."""
    filter_rounds: int = 4
    """Sampling rounds at most to fill one step's batch with kept groups."""
    on_all_filtered: str = "error"
    """When no group survives filtering in a step: error (stop with a message) or skip (warn and go on)."""
    accuracy_weight: float = 1.0
    """Weight of the answer-accuracy reward."""
    language_weight: float = 1.0
    """Weight of the language-consistency reward."""
    format_weight: float = 0.0
    """Weight of the answer-format reward."""
    think_format_weight: float = 0.0
    """Weight of the think-format reward: one closed, non-empty <think> block followed by an answer."""
    language_part: str = "thought"
    """What the language reward scores: thought (the <think> block, or the reasoning of a completion without
    one), answer (what follows the block), or both."""
    thinking: Optional[bool] = None
    """Qwen3's enable_thinking flag for the chat template (default: the template's own); templates without
    the flag ignore it."""
    language_mode: str = "continuous"
    """Language reward: continuous (target share of letters) or threshold (1 above --language-threshold)."""
    language_threshold: float = 0.9
    """Share of target-language letters the threshold mode requires."""
    language_min_letters: int = 5
    """Reasoning with fewer letters (after stripping math and code) gets language reward 0."""
    judge: Optional[str] = None
    """Optional judge model directory: a sequence classifier or a causal LM asked a yes/no question."""
    judge_kind: str = "lm"
    """Judge kind: lm (yes/no next-token) or classifier (sequence classification)."""
    judge_mode: str = "gate"
    """How the judge acts on the accuracy reward: gate, calibrate, or score (its own reward)."""
    drift_every: int = 10
    """Measure neuron drift (needs --neurons) every this many steps into drift.jsonl; 0 turns it off."""
    save_every: int = 50
    """Write a checkpoint every this many steps (and at the end)."""
    keep_checkpoints: int = 2
    """Checkpoints kept on disk (the best for rollback is always kept)."""
    collapse_min_share: Optional[float] = None
    """Collapse bound: the target-language share of the reasoning must stay at least this."""
    collapse_max_drop: Optional[float] = None
    """Collapse bound: the share may fall at most this much below its first-step value."""
    collapse_share: str = "reward"
    """Share the collapse bounds apply to: reward (what the language reward scores, `target_share`), thought
    (`target_share_thought`) or answer (`target_share_answer`)."""
    collapse_action: str = "warn"
    """On collapse: warn, stop, or rollback (restore the best checkpoint's weights and stop)."""
    seed: int = 0
    """Seed of prompt order, sampling and initialisation."""
    dtype: str = "auto"
    """Model dtype: auto (bf16 on GPU, float32 on CPU), float32, bf16."""
    device: Optional[str] = None
    """cpu, cuda, cuda:1 … (default: cuda if present)."""
    threads: Optional[int] = None
    """CPU threads for torch (default: one per core)."""
    force: bool = False
    """Resume even when the run directory was made with other options."""

    def __post_init__(self) -> None:
        super().__post_init__()

        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ConfigError(msg)

        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            need(not isinstance(v, float) or math.isfinite(v), f"--{f.name.replace('_', '-')} must be a finite number, got {v}")
        need(self.trainable in TRAINABLE, f"--trainable must be one of {', '.join(TRAINABLE)}, got '{self.trainable}'")
        need(self.trainable != "neurons" or bool(self.neurons), "--trainable neurons needs --neurons DIR (from `kolang discover`)")
        for name in ("steps", "prompts_per_step", "max_prompt_length", "max_completion_length", "generation_batch_size",
                     "micro_batch_size", "num_iterations", "filter_rounds", "save_every", "lora_r", "keep_checkpoints"):
            need(getattr(self, name) > 0, f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        need(self.group_size >= 2, f"--group-size must be at least 2 (advantages compare completions), got {self.group_size}")
        need(self.temperature > 0, "--temperature must be > 0")
        need(0 < self.top_p <= 1, "--top-p must lie in (0, 1]")
        need(self.lr > 0 and self.weight_decay >= 0 and self.max_grad_norm >= 0, "--lr must be > 0, --weight-decay and --max-grad-norm >= 0")
        need(self.epsilon > 0 and (self.epsilon_high is None or self.epsilon_high > 0), "--epsilon and --epsilon-high must be > 0")
        need(self.beta >= 0, "--beta must be >= 0")
        need(self.scale_rewards in SCALES, f"--scale-rewards must be one of {', '.join(SCALES)}")
        need(self.loss_aggregation in AGGREGATIONS, f"--loss-aggregation must be one of {', '.join(AGGREGATIONS)}")
        need(0 <= self.filter_low < self.filter_high <= 1, "need 0 <= --filter-low < --filter-high <= 1")
        need(self.on_all_filtered in ("error", "skip"), "--on-all-filtered must be error or skip")
        need(self.language_mode in ("continuous", "threshold"), "--language-mode must be continuous or threshold")
        need(self.judge_kind in ("lm", "classifier"), "--judge-kind must be lm or classifier")
        need(self.judge_mode in ("gate", "calibrate", "score"), "--judge-mode must be gate, calibrate or score")
        need(self.language_part in PARTS, f"--language-part must be one of {', '.join(PARTS)}")
        need(self.collapse_share in COLLAPSE_SHARES, f"--collapse-share must be one of {', '.join(COLLAPSE_SHARES)}")
        need(self.collapse_action in COLLAPSE_ACTIONS, f"--collapse-action must be one of {', '.join(COLLAPSE_ACTIONS)}")
        need(self.dtype in ("auto", "float32", "fp32", "bf16", "bfloat16"), "--dtype must be auto, float32 or bf16")
        weights = (self.accuracy_weight, self.language_weight, self.format_weight, self.think_format_weight)
        need(any(w != 0 for w in weights), "at least one reward weight must be non-zero")
