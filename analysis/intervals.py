"""Intervals for what kolang reports: a bootstrap 95% interval of a mean over problems, and the slope of
a quantity over training steps with its 95% interval, so every figure says how far to trust it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import t as student_t


def mean_known(values: Sequence[float | None]) -> float | None:
    """The mean of the values that are known (not None); None when none is."""
    known = [float(x) for x in values if x is not None]
    return sum(known) / len(known) if known else None


def interval(values: Sequence[float], resamples: int, seed: int) -> dict[str, float | None]:
    """The mean of per-problem `values` and its bootstrap 95% interval (percentiles of `resamples` means)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if len(v) == 0:
        return {"value": None, "low": None, "high": None}
    idx = np.random.default_rng(seed).integers(0, len(v), size=(resamples, len(v)))  # (B, n) problems drawn
    means = v[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"value": float(v.mean()), "low": float(low), "high": float(high)}


def paired_difference(a: Sequence[float], b: Sequence[float], resamples: int, seed: int) -> dict[str, float | None]:
    """The mean of `b - a` over paired per-problem values and its bootstrap 95% interval (problems resampled
    together, so both sides see the same problems)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return interval([y - x for x, y in pairs], resamples, seed)


def linear_trend(values: Sequence[float | None]) -> dict[str, float | None]:
    """Least-squares slope of `values` against their index (one a step) and its 95% interval (t interval
    from the residual spread); None where fewer than three values are known."""
    pts = [(i, float(v)) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(pts) < 3:
        return {"slope": None, "low": None, "high": None, "n": len(pts)}
    x = np.array([p[0] for p in pts], dtype=np.float64)
    y = np.array([p[1] for p in pts], dtype=np.float64)
    xc = x - x.mean()
    sxx = float((xc * xc).sum())
    slope = float((xc * (y - y.mean())).sum() / sxx)
    resid = y - (y.mean() + slope * xc)
    se = math.sqrt(float((resid * resid).sum()) / (len(pts) - 2) / sxx)
    t = float(student_t.ppf(0.975, len(pts) - 2))
    return {"slope": slope, "low": slope - t * se, "high": slope + t * se, "n": len(pts)}
