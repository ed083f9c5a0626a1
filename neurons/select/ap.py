"""Average precision (Kojima et al., NAACL 2024, "On the Multilingual Ability of Decoder-based
Pre-trained Language Models: Finding and Controlling Language-Specific Neurons").

Each neuron is treated as a classifier of texts: its mean value over a text is the score, texts
of the target language are positives, texts of the reference languages negatives. Its average
precision (AP) is high when it fires more on the target, low when it fires less; the paper takes
the top-k and the bottom-k neurons. AP is computed for all neurons at once, with scikit-learn's
definition (`average_precision_score`: tied scores form one threshold), vectorised over neurons.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kolang.errors import ConfigError, DataError
from kolang.neurons.select.base import Method, MethodScores, Ranking

# Neurons scored per chunk: keeps each (texts, chunk) work array near 8M elements (64 MB in float64).
_CHUNK_ELEMENTS = 1 << 23


@dataclass(frozen=True)
class APConfig:
    """Parameters of the average-precision method."""

    direction: str = "both"
    """Which neurons to take: 'top' (high AP), 'bottom' (low AP) or 'both' (the quota applies to each end, as in Kojima et al.)."""

    def __post_init__(self) -> None:
        if self.direction not in ("top", "bottom", "both"):
            raise ConfigError(f"AP direction must be 'top', 'bottom' or 'both', got '{self.direction}'")


def average_precision(scores: torch.Tensor, labels: torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """(M,) AP of each column of `scores` (N, M) against boolean `labels` (N,), as scikit-learn defines it.

    Columns are scored in chunks on `device` (default: where `scores` lives); the result is on the CPU.

    AP = sum over distinct thresholds t of (R_t - R_prev) * P_t. Every positive lies in exactly one
    group of tied scores, and the recall step of a group is its positives / all positives, so
    AP = (1 / P) * sum over positives of the precision at the end of the positive's tie group.
    """
    if labels.dtype != torch.bool or labels.ndim != 1 or scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError("scores must be (N, M) and labels a (N,) bool tensor")
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == labels.numel():
        raise DataError("average precision needs both positive (target) and negative (reference) texts")
    N, M = scores.shape
    out = torch.empty(M, dtype=torch.float64)
    step = max(1, _CHUNK_ELEMENTS // max(N, 1))
    device = torch.device(device) if device is not None else scores.device
    y = labels.to(device).double()
    rank = torch.arange(N, dtype=torch.int64, device=device)
    for start in range(0, M, step):
        x = scores[:, start : start + step].to(device).double()  # (N, m)
        s, order = x.sort(dim=0, descending=True, stable=True)
        ys = y[order]  # (N, m) labels in score order
        tp = ys.cumsum(0)  # (N, m) true positives at or above each position
        # The last position of each tie group: the next score differs, or it is the last row.
        is_end = torch.ones_like(s, dtype=torch.bool)
        is_end[:-1] = s[:-1] != s[1:]
        end = torch.where(is_end, rank[:, None], torch.full_like(order, N))
        end = end.flip(0).cummin(0).values.flip(0)  # (N, m) end of the group each position is in
        precision_at_end = tp.gather(0, end) / (end + 1).double()
        out[start : start + step] = ((ys * precision_at_end).sum(0) / n_pos).cpu()
    return out


def ap_scores(stats, target: str, reference: list[str]) -> tuple[torch.Tensor, float]:
    """(L, W) AP of every neuron at separating target texts from reference texts, and the positive rate."""
    if stats.text_means is None or stats.text_langs is None:
        raise DataError("the AP method needs per-text means; collect statistics with keep_text_means=True")
    t = stats.lang_index(target)
    refs = [stats.lang_index(r) for r in reference]
    langs = stats.text_langs.cpu()
    keep = (langs == t) | torch.isin(langs, torch.tensor(refs, dtype=langs.dtype))
    means = stats.text_means.cpu()[keep]  # (N, L, W)
    labels = langs[keep] == t
    if int(labels.sum()) == 0 or int((~labels).sum()) == 0:
        raise DataError(f"AP needs texts in both '{target}' and {reference}; found {int(labels.sum())} and {int((~labels).sum())}")
    N, L, W = means.shape
    # Sorting texts for every neuron dominates (about 10 s per 10^5 neurons x 200 texts on one CPU thread).
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ap = average_precision(means.reshape(N, L * W), labels, device=device).reshape(L, W)
    return ap, float(labels.double().mean())


def score(stats, target: str, reference: list[str], cfg: APConfig, layers: list[int]) -> MethodScores:
    """AP scores; 'top' takes neurons above the chance AP (the positive rate), 'bottom' those below it."""
    ap, chance = ap_scores(stats, target, reference)
    top = Ranking(largest=True, eligible=ap > chance)
    bottom = Ranking(largest=False, eligible=ap < chance)
    rankings = {"top": (top,), "bottom": (bottom,), "both": (top, bottom)}[cfg.direction]
    return MethodScores(ap, rankings, info={"chance_ap": chance})


METHOD = Method("ap", APConfig, score, "per-neuron average precision over texts (Kojima et al., NAACL 2024)")
