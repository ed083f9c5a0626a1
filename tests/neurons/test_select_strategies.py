"""Selection strategies shared by every method: top fraction, per-layer quota, layer range, ties; layer specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kolang.errors import ConfigError, DataError, NeuronSetError
from kolang.layers import as_layers, parse_layers
from kolang.neurons.select import REGISTRY, field_docs, select_neurons
from kolang.neurons.select.base import Ranking, cut_ties, rank_order, take
from kolang.neurons.stats import ActivationStats


def mean_stats(diff: torch.Tensor) -> ActivationStats:
    """Two languages whose per-neuron mean difference (ko - en) is `diff` (L, W); one token each."""
    L, W = diff.shape
    s = torch.zeros(L, 2, W, dtype=torch.float64)
    s[:, 1] = diff.double()
    return ActivationStats(["en", "ko"], torch.tensor([1, 1]), s, s * s, torch.zeros(L, 2, W, dtype=torch.int64))


def picked(ns) -> dict[int, list[int]]:
    return {l: v.tolist() for l, v in ns.neurons.items()}


def test_global_top_fraction_and_order():
    diff = torch.tensor([[1.0, 5.0, 2.0, 0.5], [4.0, 3.0, 0.1, 0.2]])
    ns = select_neurons(mean_stats(diff), "contrast", top_fraction=3 / 8)
    assert picked(ns) == {0: [1], 1: [0, 1]}
    assert len(ns) == 3 and ns.counts() == {0: 1, 1: 2}


def test_per_layer_quota_and_layer_range():
    diff = torch.arange(1.0, 25.0).reshape(4, 6)
    ns = select_neurons(mean_stats(diff), "contrast", per_layer=2, layers="1:3")
    assert picked(ns) == {1: [4, 5], 2: [4, 5]}
    ns = select_neurons(mean_stats(diff), "contrast", per_layer=6, layers=[-1])
    assert picked(ns) == {3: list(range(6))}  # a quota of the whole width takes the whole layer
    with pytest.raises(ConfigError, match="exceeds the MLP width 6"):  # never clamped silently
        select_neurons(mean_stats(diff), "contrast", per_layer=7, layers=[-1])


def test_fraction_counts_neurons_of_the_range_only():
    diff = torch.rand(4, 10, generator=torch.Generator().manual_seed(0)) + 0.1
    ns = select_neurons(mean_stats(diff), "contrast", top_fraction=0.25, layers="0:2")
    assert len(ns) == 5 and set(ns.layers()) <= {0, 1}


def test_ties_broken_by_layer_then_index_whatever_the_input_order():
    diff = torch.ones(3, 5)
    diff[2, 4] = 2.0
    ns = select_neurons(mean_stats(diff), "contrast", top_fraction=4 / 15)
    assert picked(ns) == {0: [0, 1, 2], 2: [4]}
    assert rank_order(torch.tensor([[0.0, -0.0, 0.0], [float("nan"), 1.0, 0.0]]), largest=True).tolist() == [4, 0, 1, 2, 5, 3]


def test_tiebreak_key_orders_equal_scores_before_layer_and_index():
    scores = torch.tensor([[1.0, 1.0, 2.0], [1.0, 0.0, 1.0]])
    tiebreak = torch.tensor([[0.5, 3.0, 0.0], [3.0, 9.0, float("nan")]])
    # 2.0 first; among the 1.0s: tiebreak 3.0 (layer 0 before layer 1), 0.5, then the NaN key last.
    assert rank_order(scores, True, tiebreak).tolist() == [2, 1, 3, 0, 5, 4]
    assert rank_order(scores, False, tiebreak).tolist() == [4, 0, 1, 3, 5, 2]
    elig = torch.ones(2, 3, dtype=torch.bool)
    assert take(Ranking(True, elig, tiebreak), scores, [0, 1], 2 / 6, None).nonzero().tolist() == [[0, 1], [0, 2]]


def test_cut_ties_counts_neurons_sharing_the_last_score():
    scores = torch.tensor([[3.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.5, 2.0]])
    elig = torch.ones(2, 4, dtype=torch.bool)
    elig[1, 1] = False  # an ineligible neuron never counts as tied
    ns = select_neurons(mean_stats(scores), "contrast", top_fraction=3 / 8)
    assert ns.params["method_info"]["top"] == {"tied_at_cut": 5, "taken_at_cut": 1, "score_at_cut": 1.0}
    r = Ranking(True, elig)
    taken = take(r, scores, [0, 1], None, 1)  # per layer: 3.0 in layer 0 (no tie), 2.0 in layer 1
    assert cut_ties(r, scores, [0, 1], taken, per_layer=True) == {"tied_at_cut": 2, "taken_at_cut": 2}
    taken = take(r, scores, [0, 1], None, 2)  # then one of three 1.0s in layer 0 and the one eligible in layer 1
    assert cut_ties(r, scores, [0, 1], taken, per_layer=True) == {"tied_at_cut": 4, "taken_at_cut": 2}


def test_take_respects_eligibility():
    scores = torch.tensor([[3.0, 2.0, 1.0]])
    elig = torch.tensor([[False, True, True]])
    assert take(Ranking(True, elig), scores, [0], 2 / 3, None).tolist() == [[False, True, True]]
    assert take(Ranking(False, elig), scores, [0], None, 1).tolist() == [[False, False, True]]


def test_default_fraction_without_strategy():
    diff = torch.arange(1.0, 201.0).reshape(2, 100)
    ns = select_neurons(mean_stats(diff), "contrast")
    assert picked(ns) == {1: [98, 99]}  # 1% of 200


@pytest.mark.parametrize("kw,err,match", [
    (dict(top_fraction=0.0), ConfigError, "top_fraction"),
    (dict(top_fraction=1.5), ConfigError, "top_fraction"),
    (dict(per_layer=0), ConfigError, "per_layer"),
    (dict(per_layer=2.5), ConfigError, "per_layer"),
    (dict(top_fraction=0.1, per_layer=2), ConfigError, "not both"),
    (dict(layers="0:9"), ConfigError, "out of range"),
    (dict(method="nope"), ConfigError, "available: ap, contrast, lape"),
    (dict(bogus=1), ConfigError, "no parameter bogus"),
    (dict(target="fr"), DataError, "'fr' not in the statistics"),
    (dict(reference=("ko",)), ConfigError, "also a reference"),
])
def test_bad_options_are_clear_errors(kw, err, match):
    args = {**dict(method="contrast", target="ko", reference=("en",)), **kw}
    with pytest.raises(err, match=match):
        select_neurons(mean_stats(torch.ones(2, 4)), **args)


def test_nothing_selected_is_an_error():
    with pytest.raises(NeuronSetError, match="selected no 'ko' neuron"):
        select_neurons(mean_stats(-torch.ones(2, 4)), "contrast")


def test_fingerprint_from_model_must_match_stats(tmp_path):
    from kolang.tiny import tiny_model

    model = tiny_model("qwen2")  # 2 layers x 64
    ns = select_neurons(mean_stats(torch.rand(2, 64) + 0.1), "contrast", model=model)
    assert ns.fingerprint["family"] == "qwen2" and ns.fingerprint["mlp_width"] == 64
    with pytest.raises(NeuronSetError, match="2 layers x 8 neurons"):
        select_neurons(mean_stats(torch.rand(2, 8) + 0.1), "contrast", model=model)


def test_every_config_field_has_help():
    for method in REGISTRY.values():
        docs = field_docs(method.config)
        names = [f for f in method.config.__dataclass_fields__]
        assert names and sorted(docs) == sorted(names), method.name
        with pytest.raises(Exception):  # frozen
            setattr(method.config(), names[0], None)


@pytest.mark.parametrize("spec,n,want", [
    ("0:8", 12, list(range(8))), (":3", 5, [0, 1, 2]), ("-2:", 5, [3, 4]), ("::2", 5, [0, 2, 4]),
    ("3", 5, [3]), ("-1", 5, [4]), ("0,2, 4", 5, [0, 2, 4]), ("0:2,1:3", 5, [0, 1, 2]), ("all", 3, [0, 1, 2]),
    ("0:5", 5, [0, 1, 2, 3, 4]),
])
def test_parse_layers(spec, n, want):
    assert parse_layers(spec, n) == want


@pytest.mark.parametrize("spec,match", [
    ("0:40", "out of range for a model with 28 layers"), ("28", "out of range"), ("-29:", "out of range"),
    ("a:b", "not an integer"), ("5:2", "selects no layer"), ("::0", "positive"), ("", "empty"), ("1,,2", "empty item"),
    ("1:2:3:4", "more than two"),
])
def test_parse_layers_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_layers(spec, 28)


def test_as_layers():
    assert as_layers(None, 3) == [0, 1, 2]
    assert as_layers(range(1, 3), 4) == [1, 2]
    assert as_layers([2, 0, 2, np.int64(1)], 4) == [0, 1, 2]
    assert as_layers("1:", 3) == [1, 2]
    with pytest.raises(ConfigError, match="out of range"):
        as_layers([4], 4)
    with pytest.raises(ConfigError, match="not an integer"):
        as_layers([1.5], 4)
    with pytest.raises(ConfigError, match="no layer"):
        as_layers([], 4)
