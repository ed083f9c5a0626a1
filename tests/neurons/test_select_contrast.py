"""Activation contrast against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from kolang.errors import ConfigError
from kolang.neurons.select import select_neurons
from kolang.neurons.select.contrast import ContrastConfig, contrast_scores
from kolang.neurons.stats import ActivationStats


def hand_stats() -> ActivationStats:
    """One layer, two neurons, languages en / ko / zh with tokens 4 / 2 / 4.

    Neuron 0 values: en [0, 0, 1, 1], ko [3, 5], zh [1, 1, 1, 1]; neuron 1: en [2, 2, 2, 2], ko [1, 1], zh [0, 0, 0, 0].
    Active (act > 0) counts: neuron 0: en 2, ko 2, zh 4; neuron 1: en 4, ko 1, zh 0.
    """
    vals = {"en": [[0, 0, 1, 1], [2, 2, 2, 2]], "ko": [[3, 5], [1, 1]], "zh": [[1, 1, 1, 1], [0, 0, 0, 0]]}
    langs = ["en", "ko", "zh"]
    s = torch.tensor([[[sum(v) for v in vals[g]] for g in langs]], dtype=torch.float64)  # (1, 3, 2)
    q = torch.tensor([[[sum(x * x for x in v) for v in vals[g]] for g in langs]], dtype=torch.float64)
    active = torch.tensor([[[2, 4], [2, 1], [4, 0]]])
    return ActivationStats(langs, torch.tensor([4, 2, 4]), s, q, active)


def test_mean_difference_by_hand():
    s = contrast_scores(hand_stats(), "ko", ["en"], ContrastConfig())
    assert s[0].tolist() == pytest.approx([4.0 - 0.5, 1.0 - 2.0])


def test_mean_difference_pools_references_by_tokens():
    s = contrast_scores(hand_stats(), "ko", ["en", "zh"], ContrastConfig())
    # reference = en + zh as one corpus of 8 tokens: neuron 0 mean 6/8, neuron 1 mean 8/8
    assert s[0].tolist() == pytest.approx([4.0 - 0.75, 1.0 - 1.0])


def test_cohens_d_by_hand():
    s = contrast_scores(hand_stats(), "ko", ["en"], ContrastConfig(standardize=True))
    # neuron 0: ko [3, 5] ss = 2, en [0, 0, 1, 1] ss = 1, pooled sd = sqrt(3 / 4); neuron 1: ss 0 + 0
    assert float(s[0, 0]) == pytest.approx(3.5 / math.sqrt(3 / 4))
    assert float(s[0, 1]) == pytest.approx(-1.0 / 1e-12)  # constant within groups: difference over the floor


def test_probability_difference_by_hand():
    s = contrast_scores(hand_stats(), "ko", ["en"], ContrastConfig(quantity="prob"))
    assert s[0].tolist() == pytest.approx([2 / 2 - 2 / 4, 1 / 2 - 4 / 4])
    z = contrast_scores(hand_stats(), "ko", ["en"], ContrastConfig(quantity="prob", standardize=True))
    p0, p1 = 4 / 6, 5 / 6  # pooled activation probabilities
    assert z[0].tolist() == pytest.approx([0.5 / math.sqrt(p0 * (1 - p0)), -0.5 / math.sqrt(p1 * (1 - p1))])


def test_only_positive_differences_are_selected():
    ns = select_neurons(hand_stats(), "contrast", "ko", ("en",), top_fraction=1.0)
    assert {l: v.tolist() for l, v in ns.neurons.items()} == {0: [0]}
    assert ns.params["quantity"] == "mean" and ns.reference == ["en"]


def test_bad_quantity():
    with pytest.raises(ConfigError, match="'mean' or 'prob'"):
        select_neurons(hand_stats(), "contrast", "ko", ("en",), quantity="median")
