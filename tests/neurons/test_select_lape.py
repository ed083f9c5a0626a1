"""LAPE against an independent NumPy implementation and a transcription of the reference script."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kolang.errors import DataError
from kolang.neurons.select import select_neurons
from kolang.neurons.select.lape import LapeConfig, lape_parts, lape_sets
from kolang.neurons.stats import ActivationStats


def make_stats(active: np.ndarray, tokens: list[int], langs: list[str]) -> ActivationStats:
    """Statistics with the given (L, G, W) active counts; values are irrelevant to LAPE."""
    L, G, W = active.shape
    s = torch.zeros(L, G, W, dtype=torch.float64)
    return ActivationStats(langs, torch.tensor(tokens), s, s.clone(), torch.from_numpy(active).long())


def numpy_lape(active, tokens, top_rate, filter_rate, bar_ratio, layers=None):
    """{lang index: set of (layer, index)} following the paper's steps, written with NumPy only."""
    L, G, W = active.shape
    p = np.transpose(active / np.asarray(tokens, dtype=np.float64)[None, :, None], (0, 2, 1))  # (L, W, G)
    tot = p.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(tot > 0, p / tot, 0.0)
        ent = -np.where(q > 0, q * np.log(q), 0.0).sum(-1)
    flat = np.sort(p.ravel())

    def quantile(rate):
        k = min(max(int(round(flat.size * rate)), 1), flat.size)
        return flat[k - 1]

    considered = (p > quantile(filter_rate)).any(-1)
    layers = list(range(L)) if layers is None else layers
    cand = [(ent[l, i], l, i) for l in layers for i in range(W) if considered[l, i]]
    cand.sort()
    taken = cand[: int(round(len(layers) * W * top_rate))]
    bar = quantile(bar_ratio)
    return {g: {(l, i) for _, l, i in taken if p[l, i, g] > bar} for g in range(G)}


def as_pairs(neurons: dict) -> set:
    return {(int(l), int(i)) for l, v in neurons.items() for i in v.tolist()}


@pytest.mark.parametrize("seed,G,tokens_hi", [(0, 2, 50), (1, 3, 20), (2, 5, 7), (3, 4, 1000)])
@pytest.mark.parametrize("rates", [(0.01, 0.95, 0.95), (0.1, 0.9, 0.95), (0.05, 0.8, 0.7)])
def test_lape_matches_numpy(seed, G, tokens_hi, rates):
    # Small token counts make many tied probabilities and entropies: the tie rule is exercised.
    rng = np.random.default_rng(seed)
    L, W = 4, 60
    tokens = rng.integers(tokens_hi // 2 + 1, tokens_hi + 1, G).tolist()
    active = np.stack([rng.integers(0, t + 1, (L, W)) for t in tokens], 1)
    active[:, :, :3] = 0  # dead neurons: 0/0 normalisation
    langs = [f"l{g}" for g in range(G)]
    stats = make_stats(active, tokens, langs)
    cfg = LapeConfig(*rates)
    want = numpy_lape(active, tokens, *rates)
    got = lape_sets(stats, cfg)
    for g, lang in enumerate(langs):
        assert as_pairs(got[lang]) == want[g]
    # The public entry returns the target's share of the same selection.
    ns = select_neurons(stats, "lape", target="l1", reference=None, top_rate=rates[0], filter_rate=rates[1],
                        activation_bar_ratio=rates[2]) if want[1] else None
    if ns is not None:
        assert as_pairs(ns.neurons) == want[1]
        assert ns.reference == [x for x in langs if x != "l1"]  # LAPE compares every language


def test_lape_layer_range_matches_numpy():
    rng = np.random.default_rng(7)
    tokens = [40, 50, 30]
    active = np.stack([rng.integers(0, t + 1, (6, 80)) for t in tokens], 1)
    stats = make_stats(active, tokens, ["en", "ko", "zh"])
    want = numpy_lape(active, tokens, 0.05, 0.9, 0.9, layers=[1, 2, 3])[1]
    ns = select_neurons(stats, "lape", "ko", ("en",), layers="1:4", top_rate=0.05, filter_rate=0.9, activation_bar_ratio=0.9)
    assert as_pairs(ns.neurons) == want
    assert set(ns.layers()) <= {1, 2, 3}


def reference_script(over_zero: torch.Tensor, n: torch.Tensor, top_rate, filter_rate, bar_ratio):
    """The steps of RUCAIBox identify.py (activation()), over_zero (L, W, G), returning per-language sets."""
    activation_probs = over_zero / n
    normed = activation_probs / activation_probs.sum(dim=-1, keepdim=True)
    normed[torch.isnan(normed)] = 0
    log_probs = torch.where(normed > 0, normed.log(), 0)
    entropy = -torch.sum(normed * log_probs, dim=-1)
    flat = activation_probs.flatten()
    top_prob_value = flat.kthvalue(round(len(flat) * filter_rate)).values.item()
    top_position = (activation_probs > top_prob_value).sum(dim=-1)
    entropy[top_position == 0] = torch.inf
    flat_entropy = entropy.flatten()
    _, index = flat_entropy.topk(round(len(flat_entropy) * top_rate), largest=False)
    rows, cols = index // entropy.size(1), index % entropy.size(1)
    selected = activation_probs[rows, cols].transpose(0, 1)
    bar = flat.kthvalue(round(len(flat) * bar_ratio)).values.item()
    lang, which = torch.where(selected > bar)
    return [{(int(rows[j]), int(cols[j])) for j in which[lang == g]} for g in range(over_zero.shape[-1])]


def test_lape_matches_reference_script_without_ties():
    # Large, distinct counts: no ties, so topk's order cannot matter and the sets must be equal.
    rng = np.random.default_rng(11)
    tokens = [100003, 99991, 100019]
    active = np.stack([rng.integers(0, t, (5, 200)) for t in tokens], 1)
    stats = make_stats(active, tokens, ["en", "ko", "ja"])
    want = reference_script(torch.from_numpy(active).permute(0, 2, 1).double(), torch.tensor(tokens).double(), 0.02, 0.95, 0.95)
    got = lape_sets(stats, LapeConfig(0.02, 0.95, 0.95))
    for g, lang in enumerate(stats.languages):
        assert as_pairs(got[lang]) == want[g]


def tied_counts(seed: int, tokens_hi: int, L: int = 4, W: int = 250, G: int = 3):
    """Active counts (L, G, W) and token counts (G,) full of ties, as in a real model: a tenth of the
    neurons fire often for one language only (entropy 0, all tied), and small token counts make many
    probabilities equal. With `tokens_hi` above 2**24, distinct counts near the token count instead
    differ only in float32's last bits."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(tokens_hi // 2 + 1, tokens_hi + 1, G)
    if tokens_hi > 1000:
        active = tokens[None, :, None] - rng.integers(0, 40, (L, G, W))
    else:
        active = np.stack([rng.integers(0, t + 1, (L, W)) for t in tokens], 1)
    exclusive = rng.random((L, W)) < 0.1
    lang = rng.integers(0, G, (L, W))
    for g in range(G):
        active[:, g][exclusive & (lang != g)] = 0
        active[:, g][exclusive & (lang == g)] = tokens[g] - rng.integers(0, 1 + tokens[g] // 4, int((exclusive & (lang == g)).sum()))
    active[:, :, :2] = 0  # dead neurons: 0/0 normalisation
    return active, tokens.tolist()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tokens_hi", [20, 200, 30_000_000])
@pytest.mark.parametrize("rates", [(0.01, 0.95, 0.95), (0.3, 0.95, 0.9), (0.05, 0.8, 0.7)])
def test_reference_compatible_reproduces_identify_py(seed, tokens_hi, rates):
    # identify.py divides int32 counts by int64 token counts; the transcription gets exactly those.
    # rates[1]: top_rate 0.3 exceeds what the filter leaves, so filtered neurons (+inf entropy) are taken.
    active, tokens = tied_counts(seed, tokens_hi)
    langs = ["en", "ko", "ja"]
    stats = make_stats(active, tokens, langs)
    over_zero = torch.from_numpy(active).permute(0, 2, 1).contiguous().int()  # (L, W, G) as activation.py saves it
    n = torch.tensor(tokens)
    want = reference_script(over_zero, n, *rates)
    cfg = LapeConfig(*rates, reference_compatible=True)
    got = lape_sets(stats, cfg)
    for g, lang in enumerate(langs):
        assert as_pairs(got[lang]) == want[g], lang
    parts = lape_parts(stats, cfg)
    assert parts.prob.dtype == torch.float32 and torch.equal(parts.prob, over_zero / n)
    if want[1]:
        ns = select_neurons(stats, "lape", "ko", None, top_rate=rates[0], filter_rate=rates[1],
                            activation_bar_ratio=rates[2], reference_compatible=True)
        assert as_pairs(ns.neurons) == want[1]


def test_default_mode_differs_from_identify_py_where_documented():
    # Dozens of neurons exclusive to one language tie at entropy 0 across the top_rate cut: the
    # layer/index rule and topk's order take different ones (a difference the module docstring lists).
    differs = 0
    for seed in range(10):
        active, tokens = tied_counts(seed, 200)
        over_zero = torch.from_numpy(active).permute(0, 2, 1).contiguous().int()
        want = reference_script(over_zero, torch.tensor(tokens), 0.05, 0.8, 0.7)
        got = lape_sets(make_stats(active, tokens, ["en", "ko", "ja"]), LapeConfig(0.05, 0.8, 0.7))
        differs += any(as_pairs(got[lang]) != want[g] for g, lang in enumerate(["en", "ko", "ja"]))
    assert differs >= 8


def test_lape_records_ties_at_the_top_rate_cut():
    L, W = 3, 10
    active = np.zeros((L, 2, W), dtype=np.int64)
    active[:, 1] = 10  # every neuron: ko always active, en never; all tie at entropy 0
    stats = make_stats(active, [10, 10], ["en", "ko"])
    ns = select_neurons(stats, "lape", "ko", ("en",), top_rate=0.2, filter_rate=0.5, activation_bar_ratio=0.5)
    assert ns.params["method_info"]["top_rate"] == {"tied_at_cut": 30, "taken_at_cut": 6, "entropy_at_cut": 0.0}


def test_lape_ties_broken_by_layer_then_index():
    # Every neuron identical: all entropies tie, so the first k in (layer, index) order are taken.
    L, W = 3, 10
    active = np.zeros((L, 2, W), dtype=np.int64)
    active[:, 1] = 10  # ko always active, en never: entropy 0 everywhere, all pass the bar
    stats = make_stats(active, [10, 10], ["en", "ko"])
    kw = dict(filter_rate=0.5, activation_bar_ratio=0.5)  # the median p is 0, so every ko p passes
    ns = select_neurons(stats, "lape", "ko", ("en",), top_rate=0.2, **kw)
    assert as_pairs(ns.neurons) == {(0, i) for i in range(6)}
    again = select_neurons(stats, "lape", "ko", ("en",), top_rate=0.2, **kw)
    assert ns == again


def test_lape_needs_two_languages():
    stats = make_stats(np.ones((2, 1, 5), dtype=np.int64), [4], ["ko"])
    with pytest.raises(DataError, match="at least two languages"):
        lape_sets(stats)
    with pytest.raises(DataError, match="reference"):
        select_neurons(stats, "lape", "ko", None)
