"""Average precision (Kojima et al., NAACL 2024, "On the Multilingual Ability of Decoder-based
Pre-trained Language Models: Finding and Controlling Language-Specific Neurons").

Each neuron is treated as a classifier of texts: its mean value over a text is the score, texts
of the target language are positives, texts of the reference languages negatives. Its average
precision (AP) is high when it fires more on the target, low when it fires less; the paper takes
the top-k and the bottom-k neurons. AP is computed for all neurons at once, with scikit-learn's
definition (`average_precision_score`: tied scores form one threshold), vectorised over neurons.

AP saturates: when the languages separate easily by per-text mean (script and byte statistics
differ), many neurons reach AP = 1.0 (or, at the bottom end, the AP of a perfectly reversed
ranking) and a cut among them by layer and index would be arbitrary. Equal APs are therefore
ranked by effect size, the standardised difference of per-text means (target minus reference,
over the pooled within-group standard deviation), and `method_info` records how many neurons tie
at each cut (`tied_at_cut`) and how many of those were taken (`taken_at_cut`).

The unit differs from Kojima et al.'s. They score the output of every linear layer of the model
(the q, k, v and o projections of attention and the gate, up and down projections of the MLP),
and their per-text mean runs over every position, BOS included. kolang scores its one kind of
neuron, the MLP hidden unit (the down projection's input, as every method here does), and its
per-text mean leaves special tokens (BOS, EOS) out. Sets and counts are therefore not comparable
with the paper's neuron for neuron: its top-k is drawn from a larger and different pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from kolang.errors import ConfigError, DataError
from kolang.neurons.select.base import Method, MethodScores, Ranking, standardized_difference

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
    device = torch.device(device) if device is not None else scores.device
    y = labels.to(device).double()
    rank = torch.arange(N, dtype=torch.int64, device=device)
    for start, x in _column_chunks(scores, device):  # x (N, m) float64
        s, order = x.sort(dim=0, descending=True, stable=True)
        ys = y[order]  # (N, m) labels in score order
        tp = ys.cumsum(0)  # (N, m) true positives at or above each position
        # The last position of each tie group: the next score differs, or it is the last row.
        is_end = torch.ones_like(s, dtype=torch.bool)
        is_end[:-1] = s[:-1] != s[1:]
        end = torch.where(is_end, rank[:, None], torch.full_like(order, N))
        end = end.flip(0).cummin(0).values.flip(0)  # (N, m) end of the group each position is in
        precision_at_end = tp.gather(0, end) / (end + 1).double()
        out[start : start + x.shape[1]] = ((ys * precision_at_end).sum(0) / n_pos).cpu()
    return out


def _column_chunks(scores: torch.Tensor, device: torch.device) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, (N, m) float64 block on `device`) over the columns of `scores` (N, M), ~8M elements a block."""
    N, M = scores.shape
    step = max(1, _CHUNK_ELEMENTS // max(N, 1))
    for start in range(0, M, step):
        yield start, scores[:, start : start + step].to(device).double()


def effect_size(scores: torch.Tensor, labels: torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """(M,) standardised difference, positives minus negatives, of each column of `scores` (N, M): Cohen's d over texts.

    AP only ranks texts, so every neuron that separates them perfectly scores 1.0; d also measures
    by how much, which is what tells a language neuron from one that separates by accident.
    """
    out = torch.empty(scores.shape[1], dtype=torch.float64)
    device = torch.device(device) if device is not None else scores.device
    y = labels.to(device)
    for start, x in _column_chunks(scores, device):
        t, r = x[y], x[~y]  # (P, m), (N - P, m)
        m_t, m_r = t.mean(0), r.mean(0)
        d = standardized_difference(m_t - m_r, (t - m_t).square().sum(0), (r - m_r).square().sum(0), len(t), len(r))
        out[start : start + x.shape[1]] = d.cpu()
    return out


def ap_scores(stats, target: str, reference: list[str]) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(L, W) AP of every neuron at separating target texts from reference texts, (L, W) its effect size, and the positive rate."""
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
    flat = means.reshape(N, L * W)
    ap = average_precision(flat, labels, device=device).reshape(L, W)
    return ap, effect_size(flat, labels, device=device).reshape(L, W), float(labels.double().mean())


def score(stats, target: str, reference: list[str], cfg: APConfig, layers: list[int]) -> MethodScores:
    """AP scores; 'top' takes neurons above the chance AP (the positive rate), 'bottom' those below it; equal APs by effect size."""
    ap, effect, chance = ap_scores(stats, target, reference)
    top = Ranking(largest=True, eligible=ap > chance, tiebreak=effect)
    bottom = Ranking(largest=False, eligible=ap < chance, tiebreak=effect)
    rankings = {"top": (top,), "bottom": (bottom,), "both": (top, bottom)}[cfg.direction]
    return MethodScores(ap, rankings, info={"chance_ap": chance}, score_name="ap")


METHOD = Method("ap", APConfig, score, "per-neuron average precision over texts (Kojima et al., NAACL 2024)")
