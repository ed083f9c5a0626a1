"""LAPE: Language Activation Probability Entropy (Tang et al., ACL 2024, "Language-Specific Neurons:
The Key to Multilingual Capabilities in LLMs"; reference code RUCAIBox/Language-Specific-Neurons,
identify.py).

p[l, i, g] is the probability that neuron i of layer l is active (act(gate) > 0) on a token of
language g. Normalised across languages it is a distribution whose entropy is low when the neuron
fires for few languages. A neuron is considered only if some language's p exceeds the
`filter_rate` quantile of all p; the `top_rate` lowest-entropy fraction of all neurons is taken,
and each taken neuron belongs to every language whose p exceeds the `activation_bar_ratio`
quantile, so one neuron may belong to several languages.

The quantile is the reference's: the k-th smallest of the flattened p with
k = round(numel * rate) (Python rounding). Entropy is over *all* languages in the statistics, as in
the paper, whatever `reference` names. Two deliberate differences from the reference script, both
invisible with its defaults (filter_rate == activation_bar_ratio): neurons that fail the filter are
never taken (the script ranks them last with infinite entropy and may reach them when the filter
leaves fewer than top_rate * numel), and ties in entropy are broken by layer, then index, instead of
by `torch.topk`'s unspecified order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kolang.errors import DataError
from kolang.neurons.select.base import Method, MethodScores, Ranking, check_rate, rank_order


@dataclass(frozen=True)
class LapeConfig:
    """Parameters of LAPE; names and defaults follow the reference identify.py."""

    top_rate: float = 0.01
    """Fraction of all neurons (of the chosen layers) taken by lowest entropy when no strategy is given."""
    filter_rate: float = 0.95
    """Quantile of all activation probabilities that some language's p must exceed for a neuron to be considered."""
    activation_bar_ratio: float = 0.95
    """Quantile of all activation probabilities a language's p must exceed for the neuron to belong to it."""

    def __post_init__(self) -> None:
        check_rate("top_rate", self.top_rate)
        check_rate("filter_rate", self.filter_rate)
        check_rate("activation_bar_ratio", self.activation_bar_ratio)


def kth_quantile(flat: torch.Tensor, rate: float) -> float:
    """The reference's quantile: the k-th smallest value with k = round(numel * rate), k >= 1."""
    k = min(max(round(flat.numel() * rate), 1), flat.numel())
    return float(flat.kthvalue(k).values)


@dataclass(frozen=True)
class LapeParts:
    """Everything LAPE computes, kept for inspection and for exporting every language's set at once."""

    prob: torch.Tensor  # (L, W, G) float64 activation probability per language
    entropy: torch.Tensor  # (L, W) float64 entropy of p normalised across languages
    considered: torch.Tensor  # (L, W) bool — some language's p exceeds the filter quantile
    member: torch.Tensor  # (L, W, G) bool — p exceeds the activation bar
    filter_value: float
    activation_bar: float


def lape_parts(stats, cfg: LapeConfig) -> LapeParts:
    """Activation probabilities, entropies, the filter and language membership of every neuron."""
    if len(stats.languages) < 2:
        raise DataError(
            f"LAPE compares languages and the statistics hold only {stats.languages}; "
            "collect statistics on texts of at least two languages"
        )
    empty = [lang for lang, n in zip(stats.languages, stats.tokens.tolist()) if n == 0]
    if empty:
        raise DataError(f"no tokens were read for {', '.join(empty)}; add texts in those languages or drop them")
    prob = stats.prob().permute(0, 2, 1).double().cpu()  # (L, W, G)
    normed = prob / prob.sum(-1, keepdim=True)
    normed = torch.nan_to_num(normed, nan=0.0)  # a neuron never active anywhere: 0/0
    log = torch.where(normed > 0, normed.log(), torch.zeros_like(normed))
    entropy = -(normed * log).sum(-1)  # (L, W)
    flat = prob.flatten()
    filter_value = kth_quantile(flat, cfg.filter_rate)
    bar = kth_quantile(flat, cfg.activation_bar_ratio)
    return LapeParts(prob, entropy, (prob > filter_value).any(-1), prob > bar, filter_value, bar)


def lape_default(parts: LapeParts, top_rate: float, layers: list[int]) -> torch.Tensor:
    """(L, W) bool: the round(top_rate * neurons in `layers`) lowest-entropy considered neurons."""
    L, W = parts.entropy.shape
    ok = torch.zeros(L, W, dtype=torch.bool)
    ok[layers] = parts.considered[layers]
    order = rank_order(parts.entropy, largest=False)
    order = order[ok.numpy().ravel()[order]]
    k = round(len(layers) * W * top_rate)
    out = torch.zeros(L * W, dtype=torch.bool)
    out[torch.from_numpy(order[:k]).long()] = True
    return out.reshape(L, W)


def lape_sets(stats, cfg: LapeConfig | None = None, layers: list[int] | None = None) -> dict[str, dict[int, torch.Tensor]]:
    """Every language's LAPE neurons, {lang: {layer: sorted indices}}, as the reference script writes them."""
    cfg = cfg or LapeConfig()
    parts = lape_parts(stats, cfg)
    taken = lape_default(parts, cfg.top_rate, layers if layers is not None else list(range(stats.num_layers)))
    out: dict[str, dict[int, torch.Tensor]] = {}
    for g, lang in enumerate(stats.languages):
        mask = taken & parts.member[:, :, g]
        out[lang] = {int(l): mask[l].nonzero().flatten() for l in range(mask.shape[0]) if mask[l].any()}
    return out


def score(stats, target: str, reference: list[str], cfg: LapeConfig, layers: list[int]) -> MethodScores:
    """LAPE scores (entropy; lower is more language-specific) and the target's default set."""
    parts = lape_parts(stats, cfg)
    g = stats.lang_index(target)
    eligible = parts.considered & parts.member[:, :, g]
    default = lape_default(parts, cfg.top_rate, layers) & parts.member[:, :, g]
    info = {"filter_value": parts.filter_value, "activation_bar": parts.activation_bar,
            "considered": int(parts.considered.sum()), "languages_compared": list(stats.languages)}
    return MethodScores(parts.entropy, (Ranking(largest=False, eligible=eligible),), default, info)


METHOD = Method("lape", LapeConfig, score, "language activation probability entropy (Tang et al., ACL 2024)")
