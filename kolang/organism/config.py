"""Sizes of the model organism: model shape, training length and data mix, one frozen config each."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kolang.data.tasks import generate, splits
from kolang.errors import ConfigError

# Bumped whenever the data, tokenizer or training recipe changes, so old caches are not reused.
VERSION = "6"
# The stream the held-out problems of every organism come from, whatever its seed.
HELD_OUT_SEED = 0


@dataclass(frozen=True)
class Mix:
    """Shares of the word-problem examples by (question language -> reasoning language).

    Korean questions are mostly answered in English: the cross-lingual collapse that reasoning
    models show (Qi et al. 2025, "When Models Reason in Your Language"), which the later stages
    then try to undo. A small Korean -> Korean share keeps Korean reasoning reachable by sampling.
    """

    en_en: float = 0.5
    """English question, English reasoning."""
    ko_en: float = 0.5
    """Korean question, English reasoning (the collapse)."""
    ko_ko: float = 0.0
    """Korean question, Korean reasoning. None by default: the organism understands Korean questions but
    has never seen a problem reasoned in Korean (S1's premise); the experiment's sweep varies it."""
    sentences: float = 0.15
    """Plain bilingual sentence sequences, as a fraction of the number of problem examples."""
    drills: float = 0.3
    """Plain-text arithmetic drills (solution sentences of other problems, several a sequence), as a
    fraction of the number of problem examples. They carry ~5x more arithmetic per token than word
    problems, and are the only place the organism reads arithmetic written in Korean."""
    drills_ko: float = 0.33
    """Share of the drills written in Korean (the rest English)."""


@dataclass(frozen=True)
class OrganismConfig:
    """Everything that determines a trained organism, together with the seed and thread count."""

    size: str
    """Name of the size ("full" or "micro")."""
    vocab_size: int
    """Byte-level BPE vocabulary size, special tokens included."""
    hidden_size: int
    """Residual width of the Qwen2 model."""
    intermediate_size: int
    """MLP width (number of neurons a layer)."""
    num_layers: int
    """Decoder layers."""
    num_heads: int
    """Attention heads (head dim = hidden_size / num_heads)."""
    num_kv_heads: int
    """Key/value heads (grouped-query attention, as in Qwen2)."""
    steps: int
    """Optimizer steps."""
    batch_size: int
    """Sequences a step; batches are built from sequences of similar length to avoid padding."""
    lr: float
    """Peak AdamW learning rate, reached after `warmup` steps and decayed by a cosine to lr/10. The full
    size's difficulty comes from its hardest level (half of whose products it cannot compute: `tasks.HARD_PRODUCT`),
    not from a learning rate at the edge of learnability: everything else is learned fully."""
    warmup: int
    """Linear warm-up steps."""
    n_problems: int
    """Distinct training problems generated (each used in one or more language pairings)."""
    n_eval: int
    """Held-out problems a level measured for the card, per prompt language."""
    mix: Mix = field(default_factory=Mix)
    """The data mix."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    max_len: int = 192
    """Longest training sequence in tokens; longer ones are dropped."""
    eval_new_tokens: int = 64
    """Generation budget when measuring the card (the longest solution is about 40 tokens)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for card.json."""
        return asdict(self)

    def problems(self, seed: int, n_unseen: int = 0) -> dict[str, list[Any]]:
        """The organism's word problems: `train` (what the organism of `seed` is trained on), then `eval` (held out,
        4 x n_eval) and `n_unseen` further problems it never saw (`unseen`), both the same for every seed.

        Held-out problems lie outside every seed's training stream (`tasks.is_held_out`), so all seeds are measured
        on one set: a difference between two seeds' cards is the models', not the draw of their problems.
        """
        held = splits(HELD_OUT_SEED, 0, 4 * self.n_eval, 0, n_unseen=n_unseen)
        return {"train": generate(self.n_problems, seed, held_out=False), "eval": held["eval"], "unseen": held["unseen"]}


SIZES = {
    "full": OrganismConfig(size="full", vocab_size=1536, hidden_size=64, intermediate_size=256, num_layers=6,
                           num_heads=4, num_kv_heads=2, steps=4000, batch_size=32, lr=1e-3, warmup=200,
                           n_problems=100000, n_eval=250),
    "micro": OrganismConfig(size="micro", vocab_size=640, hidden_size=48, intermediate_size=96, num_layers=2,
                            num_heads=4, num_kv_heads=2, steps=40, batch_size=16, lr=3e-3, warmup=8,
                            n_problems=600, n_eval=3, eval_new_tokens=16,
                            # Tests need sampled Korean reasoning and clearly separable languages within 40 steps.
                            mix=Mix(en_en=0.45, ko_en=0.43, ko_ko=0.12, drills=0.0)),
}


def get_config(size: str, ko_ko: float | None = None) -> OrganismConfig:
    """The config named `size`; a `ConfigError` for an unknown name. `ko_ko` gives a variant of the recipe
    whose Korean->Korean share is `ko_ko` (see `with_ko_ko`); None or the recipe's own share is the recipe."""
    if size not in SIZES:
        raise ConfigError(f"unknown organism size '{size}'; use one of {', '.join(SIZES)}")
    return with_ko_ko(SIZES[size], ko_ko)


def with_ko_ko(cfg: OrganismConfig, ko_ko: float | None) -> OrganismConfig:
    """`cfg` with `ko_ko` of its problems reasoned in Korean after a Korean question, taken from the Korean->English
    share: the Korean questions stay the same problems, and the pairings are drawn from one stream, so the variants
    differ only in which of those questions are answered in Korean (every other example is identical)."""
    if ko_ko is None or ko_ko == cfg.mix.ko_ko:
        return cfg
    korean = cfg.mix.ko_en + cfg.mix.ko_ko
    if not 0.0 <= ko_ko <= korean:  # also refuses nan
        raise ConfigError(f"a Korean->Korean share must lie in [0, {korean:g}] (the Korean questions' share), "
                          f"got {ko_ko}")
    return replace(cfg, mix=replace(cfg.mix, ko_en=round(korean - ko_ko, 6), ko_ko=ko_ko))


def ships(cfg: OrganismConfig, seed: int) -> bool:
    """Whether the organism of `cfg` and `seed` is the one shipped inside the package (the full recipe, seed 0)."""
    return cfg == SIZES["full"] and seed == 0


def variant_suffix(cfg: OrganismConfig) -> str:
    """The part of a cache folder's name that tells a variant from its size's recipe ("" for the recipe)."""
    default = SIZES[cfg.size].mix.ko_ko
    return "" if cfg.mix.ko_ko == default else f"-koko{cfg.mix.ko_ko * 100:g}"
