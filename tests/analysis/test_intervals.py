"""The slope of a training curve and its interval, against SciPy's own regression."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kolang.analysis.intervals import interval, linear_trend, paired_difference


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trend_equals_scipy_linregress(seed):
    rng = np.random.default_rng(seed)
    y = 0.3 + 0.002 * np.arange(120) + rng.normal(0, 0.05, 120)
    got = linear_trend(list(y))
    ref = stats.linregress(np.arange(120), y)
    t = stats.t.ppf(0.975, 118)
    assert got["slope"] == pytest.approx(ref.slope, rel=1e-9)
    assert got["low"] == pytest.approx(ref.slope - t * ref.stderr, rel=1e-9)
    assert got["high"] == pytest.approx(ref.slope + t * ref.stderr, rel=1e-9)


def test_trend_skips_missing_steps_and_needs_three_points():
    assert linear_trend([None, 0.1, 0.2])["slope"] is None
    got = linear_trend([0.1, None, 0.3, 0.4])  # the missing step keeps its index
    ref = stats.linregress([0, 2, 3], [0.1, 0.3, 0.4])
    assert got["slope"] == pytest.approx(ref.slope) and got["n"] == 3


def test_paired_difference_resamples_problems_together():
    a, b = [0.0, 1.0, 0.0, 1.0] * 25, [1.0, 1.0, 0.0, 1.0] * 25
    d = paired_difference(a, b, 500, 0)
    assert d["value"] == pytest.approx(0.25) and d["low"] <= 0.25 <= d["high"]
    assert interval([1.0] * 10, 100, 0)["low"] == 1.0


def test_mean_known_skips_unknown_values():
    from kolang.analysis.intervals import mean_known

    assert mean_known([1, None, 0.5]) == 0.75
    assert mean_known([None, None]) is None and mean_known([]) is None
