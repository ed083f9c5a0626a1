"""Vectorised average precision equals scikit-learn's, ties included; AP selection of top and bottom ends."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

import kolang.neurons.select.ap as ap_mod
from kolang.errors import DataError
from kolang.neurons.select import select_neurons
from kolang.neurons.select.ap import average_precision
from kolang.neurons.stats import ActivationStats


@pytest.mark.parametrize("seed,N,levels", [(0, 7, 3), (1, 40, 5), (2, 100, 1000), (3, 25, 2), (4, 60, 0)])
def test_ap_equals_sklearn(seed, N, levels):
    rng = np.random.default_rng(seed)
    M = 120
    # levels > 0: integer scores from few levels, so most columns are full of ties; 0: continuous.
    x = rng.integers(0, levels, (N, M)).astype(np.float64) if levels else rng.normal(size=(N, M))
    x[:, 0] = 1.0  # one column entirely tied
    y = rng.random(N) < 0.4
    y[:2] = [True, False]
    got = average_precision(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    want = np.array([average_precision_score(y, x[:, j]) for j in range(M)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_ap_chunked_equals_unchunked(monkeypatch):
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.integers(0, 4, (30, 97)).astype(np.float32))
    y = torch.from_numpy(rng.random(30) < 0.5)
    whole = average_precision(x, y)
    monkeypatch.setattr(ap_mod, "_CHUNK_ELEMENTS", 30 * 8)  # 8 neurons a chunk, last chunk partial
    torch.testing.assert_close(average_precision(x, y), whole, rtol=1e-13, atol=0)  # summation order may differ


def test_ap_needs_both_classes():
    with pytest.raises(DataError):
        average_precision(torch.rand(5, 3), torch.ones(5, dtype=torch.bool))


def ap_stats(seed: int = 0):
    """Three languages, 12 texts each; neuron (1, 2) is high on ko texts, (0, 4) low on ko texts."""
    g = torch.Generator().manual_seed(seed)
    L, W, n = 2, 6, 12
    langs = torch.tensor([0] * n + [1] * n + [2] * n)  # en, ko, zh
    means = torch.randn(3 * n, L, W, generator=g)
    means[langs == 1, 1, 2] += 10.0
    means[langs == 1, 0, 4] -= 10.0
    z = torch.zeros(L, 3, W, dtype=torch.float64)
    return ActivationStats(["en", "ko", "zh"], torch.full((3,), 100), z, z.clone(), z.long(),
                           torch.full((3,), n), means, langs)


def test_ap_scores_per_neuron_use_target_and_reference_texts_only():
    stats = ap_stats()
    ns = select_neurons(stats, "ap", "ko", ("en",), per_layer=1, direction="top")
    keep = (stats.text_langs == 0) | (stats.text_langs == 1)
    y = (stats.text_langs[keep] == 1).numpy()
    X = stats.text_means[keep].numpy()
    want = np.array([[average_precision_score(y, X[:, l, i]) for i in range(6)] for l in range(2)])
    np.testing.assert_allclose(ns.scores.double().numpy(), want, rtol=1e-6)  # scores are stored as float32
    assert ns.neurons[1].tolist() == [2]


def test_ap_directions():
    stats = ap_stats()
    top = select_neurons(stats, "ap", "ko", ("en", "zh"), top_fraction=1 / 12, direction="top")
    bottom = select_neurons(stats, "ap", "ko", ("en", "zh"), top_fraction=1 / 12, direction="bottom")
    both = select_neurons(stats, "ap", "ko", ("en", "zh"), top_fraction=1 / 12)
    assert {l: v.tolist() for l, v in top.neurons.items()} == {1: [2]}
    assert {l: v.tolist() for l, v in bottom.neurons.items()} == {0: [4]}
    assert {l: v.tolist() for l, v in both.neurons.items()} == {0: [4], 1: [2]}
    assert both.params["method_info"]["chance_ap"] == pytest.approx(1 / 3)


def test_ap_without_text_means_is_a_clear_error():
    stats = ap_stats()
    stats.text_means = None
    with pytest.raises(DataError, match="keep_text_means=True"):
        select_neurons(stats, "ap", "ko", ("en",))


def saturated_stats(direction: str, seed: int = 0):
    """AP saturates: 48 neurons separate ko from en texts perfectly by accident (the largest AP, 1.0, or
    for 'bottom' the smallest) with a small effect; 6 planted ones separate them by a wide margin."""
    g = torch.Generator().manual_seed(seed)
    L, W, n = 4, 64, 20
    langs = torch.tensor([0] * n + [1] * n)  # en, ko
    ko = langs == 1
    means = torch.randn(2 * n, L, W, generator=g)  # (N, L, W): most neurons do not separate the texts
    flat = means.view(2 * n, L * W)
    perm = torch.randperm(L * W, generator=g)
    accidental, planted = perm[:48], perm[48:54]
    # Accidental: ko means in (0, 1], en means in [-1, 0): separated, d about 3.5.
    flat[:, accidental] = torch.where(ko[:, None], torch.rand(2 * n, 48, generator=g),
                                      -torch.rand(2 * n, 48, generator=g))
    flat[:, planted] = torch.where(ko[:, None], 5.0, 0.0) + 0.1 * torch.randn(2 * n, len(planted), generator=g)
    if direction == "bottom":
        flat[:, torch.cat([accidental, planted])] *= -1
    z = torch.zeros(L, 2, W, dtype=torch.float64)
    stats = ActivationStats(["en", "ko"], torch.full((2,), 100), z, z.clone(), z.long(), torch.full((2,), n), means, langs)
    return stats, {(int(i) // W, int(i) % W) for i in planted}


@pytest.mark.parametrize("direction", ["top", "bottom"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_saturated_ap_breaks_ties_by_effect_size(direction, seed):
    # Before the tie-break, the cut among the 50-odd neurons at AP 1.0 (0.0) fell by layer and index.
    stats, truth = saturated_stats(direction, seed)
    ap, _, _ = ap_mod.ap_scores(stats, "ko", ["en"])
    extreme = ap.max() if direction == "top" else ap.min()
    assert int((ap == extreme).sum()) == 48 + len(truth)
    ns = select_neurons(stats, "ap", "ko", ("en",), top_fraction=len(truth) / ap.numel(), direction=direction)
    got = {(l, int(i)) for l, v in ns.neurons.items() for i in v}
    assert got == truth
    cut = ns.params["method_info"][direction]
    assert cut == {"tied_at_cut": 48 + len(truth), "taken_at_cut": len(truth), "ap_at_cut": float(extreme)}


def test_effect_size_is_cohens_d_over_texts():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 5))
    y = rng.random(30) < 0.4
    t, r = x[y], x[~y]
    pooled = np.sqrt((((t - t.mean(0)) ** 2).sum(0) + ((r - r.mean(0)) ** 2).sum(0)) / (len(x) - 2))
    want = (t.mean(0) - r.mean(0)) / pooled
    np.testing.assert_allclose(ap_mod.effect_size(torch.from_numpy(x), torch.from_numpy(y)).numpy(), want, rtol=1e-12)
