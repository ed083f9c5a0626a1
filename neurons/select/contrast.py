"""Activation contrast: how much more a neuron does on the target language than on the reference(s).

The score is the difference, target minus reference, of either the mean neuron value or the
activation probability P(act(gate) > 0). The reference languages are pooled into one corpus
(their token-weighted statistics). Standardised, a mean difference becomes Cohen's d (pooled
within-group standard deviation) and a probability difference is divided by the pooled Bernoulli
standard deviation sqrt(p(1 - p)), so neurons with large, noisy values do not win by scale alone.
Only neurons with a positive difference — more active on the target — are eligible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kolang.errors import ConfigError
from kolang.neurons.select.base import STD_FLOOR, Method, MethodScores, Ranking, pooled, standardized_difference


@dataclass(frozen=True)
class ContrastConfig:
    """Parameters of the activation contrast."""

    quantity: str = "mean"
    """What to contrast: 'mean' (mean neuron value) or 'prob' (activation probability, act(gate) > 0)."""
    standardize: bool = False
    """Divide the difference by the pooled standard deviation (Cohen's d for 'mean')."""

    def __post_init__(self) -> None:
        if self.quantity not in ("mean", "prob"):
            raise ConfigError(f"contrast quantity must be 'mean' or 'prob', got '{self.quantity}'")


def contrast_scores(stats, target: str, reference: list[str], cfg: ContrastConfig) -> torch.Tensor:
    """(L, W) float64 difference target - reference of the chosen quantity, optionally standardised."""
    n_t, s_t, q_t, a_t = pooled(stats, [target])
    n_r, s_r, q_r, a_r = pooled(stats, reference)
    n_t, n_r = n_t.double().cpu(), n_r.double().cpu()
    if cfg.quantity == "prob":
        p_t, p_r = a_t.double().cpu() / n_t, a_r.double().cpu() / n_r
        diff = p_t - p_r
        if not cfg.standardize:
            return diff
        p = (a_t + a_r).double().cpu() / (n_t + n_r)
        return diff / (p * (1 - p)).sqrt().clamp(min=STD_FLOOR)
    m_t, m_r = s_t.double().cpu() / n_t, s_r.double().cpu() / n_r
    diff = m_t - m_r
    if not cfg.standardize:
        return diff
    # Within-group sums of squared deviations, from the streamed sums: sum(x^2) - n * mean^2.
    ss_t = (q_t.double().cpu() - n_t * m_t**2).clamp(min=0)
    ss_r = (q_r.double().cpu() - n_r * m_r**2).clamp(min=0)
    return standardized_difference(diff, ss_t, ss_r, n_t, n_r)


def score(stats, target: str, reference: list[str], cfg: ContrastConfig, layers: list[int]) -> MethodScores:
    """Contrast scores (higher is more target-specific); neurons with a positive difference are eligible."""
    s = contrast_scores(stats, target, reference, cfg)
    return MethodScores(s, (Ranking(largest=True, eligible=s > 0),))


METHOD = Method("contrast", ContrastConfig, score, "difference of mean value or activation probability, target vs reference")
