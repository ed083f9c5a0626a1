"""What a selection method is, and the selection strategies every method shares.

A method turns `ActivationStats` into per-neuron scores and the ranking(s) to take neurons from;
the strategies — a global top fraction, a per-layer quota, a layer range — are applied here, once,
so every method gets them with the same deterministic tie-breaking: score, then the method's own
secondary key if it gives one (AP's effect size), then layer, then index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kolang.errors import ConfigError, DataError

# Used when a method has no selection of its own (contrast, AP) and no strategy is given; the
# same 1% LAPE uses for its `top_rate` (Tang et al., 2024).
DEFAULT_TOP_FRACTION = 0.01
# A neuron constant within both groups has zero spread; a standardised difference divides by this
# floor instead (very large unless the difference is zero too).
STD_FLOOR = 1e-12


@dataclass(frozen=True)
class Ranking:
    """One end of a method's score to take neurons from."""

    largest: bool  # True: a higher score is more target-specific
    eligible: torch.Tensor  # (L, W) bool — neurons that may be taken for the target at all
    # (L, W) float: decides among equal scores, read in the same direction (larger is better when
    # `largest`). A score that saturates (AP = 1.0 for every neuron that separates the texts at all)
    # would otherwise leave the cut to layer and index.
    tiebreak: torch.Tensor | None = None

    @property
    def name(self) -> str:
        """'top' or 'bottom': which end of the score this ranking takes from (the key of its cut in `method_info`)."""
        return "top" if self.largest else "bottom"


@dataclass(frozen=True)
class MethodScores:
    """A method's output: per-neuron scores, how to rank them, and optionally its own default selection."""

    scores: torch.Tensor  # (L, W) float64 — the method's per-neuron score
    rankings: tuple[Ranking, ...]  # usually one; AP "both" takes from its top and bottom ends
    default: torch.Tensor | None = None  # (L, W) bool — used when no strategy is given (LAPE's top_rate)
    info: dict[str, Any] | None = None  # thresholds and counts worth recording in the artifact
    score_name: str = "score"  # what the score is ('ap', 'entropy'), naming its value at the cut in `method_info`


ScoreFn = Callable[[Any, str, list[str], Any, list[int]], MethodScores]


@dataclass(frozen=True)
class Method:
    """A registered selection method: its name, frozen config class and scoring function."""

    name: str
    config: type  # frozen dataclass; each field has a docstring comment reused as CLI help
    score: ScoreFn  # score(stats, target, reference, config, layers) -> MethodScores
    summary: str  # one line for `--help` and error messages


def _ascending_key(x: torch.Tensor, largest: bool) -> np.ndarray:
    """Flat float64 key that sorts best first in ascending order; NaN last (NaN neurons are never eligible)."""
    a = x.detach().double().cpu().numpy().ravel()
    key = -a if largest else a
    return np.where(np.isnan(key), np.inf, key)


def rank_order(scores: torch.Tensor, largest: bool, tiebreak: torch.Tensor | None = None) -> np.ndarray:
    """Flat (layer * W + index) positions of `scores` (L, W), best first; ties by `tiebreak`, then layer, then index.

    Stable sorts over the flat layout keep neurons equal in every key in (layer, index) order, so the
    order is the same on every run and every machine.
    """
    key = _ascending_key(scores, largest)
    if tiebreak is None:
        return np.argsort(key, kind="stable")
    return np.lexsort((_ascending_key(tiebreak, largest), key))  # last key primary; lexsort is stable


def take(ranking: Ranking, scores: torch.Tensor, layers: Sequence[int],
         top_fraction: float | None, per_layer: int | None) -> torch.Tensor:
    """(L, W) bool mask of the neurons one ranking selects under one strategy, within `layers`.

    `top_fraction` takes round(fraction * neurons in `layers`) of the eligible neurons, ranked across
    those layers; `per_layer` takes up to K eligible neurons from each layer of `layers`.
    """
    L, W = scores.shape
    in_range = torch.zeros(L, W, dtype=torch.bool)
    in_range[list(layers)] = True
    ok = (ranking.eligible.cpu() & in_range & ~torch.isnan(scores.cpu())).numpy().ravel()
    order = rank_order(scores, ranking.largest, ranking.tiebreak)
    order = order[ok[order]]  # eligible positions, best first
    out = np.zeros(L * W, dtype=bool)
    if per_layer is not None:
        layer_of = order // W
        for layer in layers:
            out[order[layer_of == layer][:per_layer]] = True
    else:
        k = round(len(layers) * W * float(top_fraction))  # numel * rate, as identify.py rounds top_rate
        out[order[:k]] = True
    return torch.from_numpy(out.reshape(L, W))


def cut_ties(ranking: Ranking, scores: torch.Tensor, layers: Sequence[int], taken: torch.Tensor,
             per_layer: bool = False, score_name: str = "score") -> dict[str, Any]:
    """How many eligible neurons share the score of the last one `taken` (L, W), and how many of them were taken.

    When `taken_at_cut` < `tied_at_cut`, the score alone did not decide the set: the tie-break did. With
    per-layer quotas each layer is its own cut; the counts are summed and the score at the cut omitted.
    """
    s = scores.detach().double().cpu()
    ok = ranking.eligible.cpu() & ~torch.isnan(s)
    taken = taken.cpu()
    groups = [[layer] for layer in layers] if per_layer else [list(layers)]
    tied = taken_tied = 0
    at: float | None = None
    for g in groups:
        chosen = taken[g] & ok[g]
        if not chosen.any():
            continue
        worst = s[g][chosen].min() if ranking.largest else s[g][chosen].max()
        same = ok[g] & (s[g] == worst)
        tied, taken_tied = tied + int(same.sum()), taken_tied + int((same & chosen).sum())
        at = float(worst) + 0.0  # -0.0 (a negated zero entropy) reads as 0.0
    out: dict[str, Any] = {"tied_at_cut": tied, "taken_at_cut": taken_tied}
    if not per_layer:
        out[f"{score_name}_at_cut"] = at if at is not None and math.isfinite(at) else None  # JSON has no inf
    return out


def standardized_difference(diff: torch.Tensor, ss_t: torch.Tensor, ss_r: torch.Tensor,
                            n_t: torch.Tensor | float, n_r: torch.Tensor | float) -> torch.Tensor:
    """`diff` over the pooled within-group standard deviation (Cohen's d), from each group's sum of squared deviations.

    Contrast standardises streamed token sums with it, AP's tie-break per-text means.
    """
    dof = torch.as_tensor(n_t + n_r - 2, dtype=torch.float64).clamp(min=1)
    return diff / ((ss_t + ss_r) / dof).sqrt().clamp(min=STD_FLOOR)




def pooled(stats, langs: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token count (1,), sum, sum of squares and active count (L, W) of `langs` read as one corpus."""
    ix = [stats.lang_index(x) for x in langs]
    n = stats.tokens[ix].sum()
    if int(n) == 0:
        raise DataError(f"no tokens were read for {', '.join(langs)}; add texts in those languages")
    return n, stats.sum[:, ix].sum(1), stats.sumsq[:, ix].sum(1), stats.active[:, ix].sum(1)


def check_rate(name: str, value: float) -> None:
    """Raise `ConfigError` unless 0 < value <= 1 (LAPE's rates, quantile levels)."""
    if not 0.0 < float(value) <= 1.0:
        raise ConfigError(f"{name} must lie in (0, 1], got {value}")
