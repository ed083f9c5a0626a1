"""LAPE: Language Activation Probability Entropy (Tang et al., ACL 2024, "Language-Specific Neurons:
The Key to Multilingual Capabilities in LLMs"; reference code RUCAIBox/Language-Specific-Neurons,
activation.py and identify.py).

p[l, i, g] is the probability that neuron i of layer l is active (act(gate) > 0) on a token of
language g. Normalised across languages it is a distribution whose entropy is low when the neuron
fires for few languages. A neuron is considered only if some language's p exceeds the
`filter_rate` quantile of all p; the `top_rate` lowest-entropy fraction of all neurons is taken,
and each taken neuron belongs to every language whose p exceeds the `activation_bar_ratio`
quantile, so one neuron may belong to several languages.

The quantile is the reference's: the k-th smallest of the flattened p with
k = round(numel * rate) (Python rounding). Entropy is over *all* languages in the statistics, as in
the paper, whatever `reference` names.

By default kolang differs from the reference in four ways, and the sets differ with them:

- p is float64 (active count / token count); identify.py divides integer tensors, which torch does
  in float32. From about 2**24 (1.7e7) tokens a language, adjacent counts can round to the same p,
  and a neuron close to the filter, the bar or the entropy cut can land on the other side.
- Neurons that fail the filter are never taken; identify.py gives them infinite entropy and ranks
  them last, so it takes some when the filter leaves fewer than top_rate * numel.
- Ties in entropy are broken by layer, then index; identify.py takes `torch.topk`'s order, which
  is not index order in general. Neurons that fire for one language only all have entropy 0, so
  dozens may tie across the cut, and the sets then differ.
- The statistics (`collect_stats`) read each text on its own, truncated to `max_length`, and leave
  special tokens out; activation.py concatenates a language's tokens into one stream, cuts it into
  `max_model_len` windows (dropping the remainder) and counts every position. Attention then runs
  across text boundaries, so p itself changes: on the model organism (bundled Korean/English
  sentences, 256-token windows) by 0.08-0.11 on average, and the top 1% and 5% sets overlap by
  Jaccard 0-0.39.

`reference_compatible=True` with statistics from `collect_stats(..., pack=True)` removes all four:
p in float32 by the same integer division, filtered neurons ranked at +inf, `torch.topk(largest=
False)` over the flattened entropies of the chosen layers. It reproduces identify.py's sets bit for
bit from the same counts. What still differs:

- The counts themselves come from the Hugging Face forward, not vLLM's kernels; in bf16/fp16 the
  rounding of gate values near 0, and so some counts, can differ.
- activation.py reads at most 99,999,744 tokens a language; kolang reads what it is given (cap
  the corpus to match). Its id files were tokenised outside the repository; kolang encodes each
  text as the tokenizer does by default (a Llama tokenizer puts BOS before every text).
- Tie order is `torch.topk`'s on the CPU of the installed torch; the published masks came from
  torch 2.1 (what the vllm==0.2.7 the repository asks for installs), and another version may
  order ties at the k-th entropy differently.
- Entropy runs over the languages in the statistics: to reproduce a published mask, read the same
  seven (en, zh, fr, es, vi, id, ja).
- `layers` restricts the ranking to those layers (the quantiles still use every neuron read);
  identify.py always ranks the whole model. Statistics of some layers only (`collect_stats(...,
  layers="0:8")`, what `kolang discover --layers 0:8` reads) take the quantiles over those
  layers, as if the model had no others. kolang's quantile clamps k to at least 1.
- `lape_sets` returns every language, an empty one included; identify.py's list leaves out the
  trailing languages that got no neuron (it splits by `bincount`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kolang.errors import DataError
from kolang.neurons.select.base import Method, MethodScores, Ranking, check_rate, cut_ties, take


@dataclass(frozen=True)
class LapeConfig:
    """Parameters of LAPE; names and defaults follow the reference identify.py."""

    top_rate: float = 0.01
    """Fraction of all neurons (of the chosen layers) taken by lowest entropy when no strategy is given."""
    filter_rate: float = 0.95
    """Quantile of all activation probabilities that some language's p must exceed for a neuron to be considered."""
    activation_bar_ratio: float = 0.95
    """Quantile of all activation probabilities a language's p must exceed for the neuron to belong to it."""
    reference_compatible: bool = False
    """Reproduce identify.py bit for bit: float32 p, filtered neurons ranked last, ties in torch.topk's order (use with packed statistics)."""

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

    prob: torch.Tensor  # (L, W, G) activation probability per language; float64, float32 reference-compatible
    entropy: torch.Tensor  # (L, W) entropy of p normalised across languages, in p's dtype
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
    if cfg.reference_compatible:
        # identify.py's `over_zero / n`: integer tensors, which torch divides in float32 (its default
        # float dtype), over the contiguous (L, W, G) layout it stacks, so reductions run in its order.
        prob = stats.active.cpu().permute(0, 2, 1).contiguous() / stats.tokens.cpu()
    else:
        prob = stats.prob().permute(0, 2, 1).double().cpu()  # (L, W, G)
    normed = prob / prob.sum(-1, keepdim=True)
    normed = torch.nan_to_num(normed, nan=0.0)  # a neuron never active anywhere: 0/0
    log = torch.where(normed > 0, normed.log(), torch.zeros_like(normed))
    entropy = -(normed * log).sum(-1)  # (L, W)
    flat = prob[stats.read_layers].flatten()  # statistics of some layers only: their quantiles, as if the model had those
    filter_value = kth_quantile(flat, cfg.filter_rate)
    bar = kth_quantile(flat, cfg.activation_bar_ratio)
    return LapeParts(prob, entropy, (prob > filter_value).any(-1), prob > bar, filter_value, bar)


def lape_default(parts: LapeParts, cfg: LapeConfig, layers: list[int]) -> tuple[torch.Tensor, dict]:
    """(L, W) bool: the round(top_rate * neurons in `layers`) lowest-entropy neurons, and the ties at that cut.

    kolang takes considered neurons only, ties by layer then index; reference-compatible, identify.py's
    `topk` over the entropies with filtered neurons at +inf.
    """
    L, W = parts.entropy.shape
    if not cfg.reference_compatible:
        ranking = Ranking(largest=False, eligible=parts.considered)
        taken = take(ranking, parts.entropy, layers, cfg.top_rate, None)
        return taken, cut_ties(ranking, parts.entropy, layers, taken, score_name="entropy")
    entropy = parts.entropy.masked_fill(~parts.considered, torch.inf)
    flat = entropy[layers].flatten()  # all layers: identify.py's flattened entropy, same values and order
    index = flat.topk(round(flat.numel() * cfg.top_rate), largest=False).indices
    chosen = torch.zeros(flat.numel(), dtype=torch.bool)
    chosen[index] = True
    taken = torch.zeros(L, W, dtype=torch.bool)
    taken[layers] = chosen.view(len(layers), W)
    ranking = Ranking(largest=False, eligible=torch.ones(L, W, dtype=torch.bool))
    return taken, cut_ties(ranking, entropy, layers, taken, score_name="entropy")


def lape_sets(stats, cfg: LapeConfig | None = None, layers: list[int] | None = None) -> dict[str, dict[int, torch.Tensor]]:
    """Every language's LAPE neurons, {lang: {layer: sorted indices}}, as the reference script writes them."""
    cfg = cfg or LapeConfig()
    parts = lape_parts(stats, cfg)
    taken, _ = lape_default(parts, cfg, layers if layers is not None else list(range(stats.num_layers)))
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
    taken, cut = lape_default(parts, cfg, layers)
    info = {"filter_value": parts.filter_value, "activation_bar": parts.activation_bar,
            "considered": int(parts.considered.sum()), "languages_compared": list(stats.languages), "top_rate": cut}
    return MethodScores(parts.entropy.double(), (Ranking(largest=False, eligible=eligible),),
                        taken & parts.member[:, :, g], info, score_name="entropy")


METHOD = Method("lape", LapeConfig, score, "language activation probability entropy (Tang et al., ACL 2024)")
