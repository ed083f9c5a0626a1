"""Drift metrics on tiny models: no change means no drift, weight deltas land where the weights moved,
silencing planted Korean neurons breaks the overlap, ranks match scipy, and `kolang drift` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kolang.analysis.drift import (DriftTracker, average_ranks, effective_weights, probe_set_from_tasks,
                                   spearman)
from kolang.analysis.plots import drift_figure
from kolang.errors import ConfigError, DataError, NeuronSetError
from kolang.neurons.neuronset import NeuronSet
from kolang.neurons.select import select_neurons
from kolang.neurons.stats import collect_stats
from kolang.tiny import byte_tokenizer, planted_model, tiny_model

CONTRAST = {"method": "contrast", "per_layer": 4}  # always selects something, even in a random model
# The planted neurons fire on Hangul only (p = 0.83 on Korean probe tokens), below LAPE's default 95% bar,
# which a few random neurons firing on almost every token set; a median bar lets them through.
LAPE = {"filter_rate": 0.5, "activation_bar_ratio": 0.5}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def probe():
    return probe_set_from_tasks(8, seed=3)


@pytest.fixture(scope="module")
def planted(probe):
    """The planted qwen2 model, its planted neurons, and the set LAPE finds with a 4-a-layer quota."""
    model, neurons = planted_model("qwen2", per_layer=4)
    stats = collect_stats(model, byte_tokenizer(), *probe)
    ns = select_neurons(stats, "lape", "ko", ["en"], per_layer=4, model=model, **LAPE)
    return model, neurons, ns


def hand_set(model, neurons) -> NeuronSet:
    from kolang.neurons.neuronset import fingerprint_of

    return NeuronSet(neurons, fingerprint_of(model), method="contrast", target="ko", reference=["en"])


def ref_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks by counting: rank_i = #(x < x_i) + (#(x == x_i) + 1) / 2."""
    return np.array([(x < v).sum() + ((x == v).sum() + 1) / 2 for v in x])


def test_ranks_and_spearman_match_references():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 6, (200,), generator=g).double()  # many ties
    b = a + torch.randn(200, generator=g, dtype=torch.float64) * 2
    b[::7] = b[3]  # ties in b too
    a[5], b[9] = float("nan"), float("inf")
    ok = torch.isfinite(a) & torch.isfinite(b)
    np.testing.assert_allclose(average_ranks(a[ok]).numpy(), ref_ranks(a[ok].numpy()))
    ra, rb = ref_ranks(a[ok].numpy()), ref_ranks(b[ok].numpy())
    expect = np.corrcoef(ra, rb)[0, 1]
    assert spearman(a, b) == pytest.approx(expect, abs=1e-12)
    stats = pytest.importorskip("scipy.stats")
    np.testing.assert_allclose(average_ranks(a[ok]).numpy(), stats.rankdata(a[ok].numpy()))
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a[ok].numpy(), b[ok].numpy()).statistic, abs=1e-12)
    assert spearman(torch.ones(5), torch.arange(5.0)) is None  # constant scores: no ranking


def test_planted_set_is_found_and_unchanged_model_shows_no_drift(planted, probe, tmp_path):
    model, neurons, ns = planted
    assert {k: v.tolist() for k, v in ns.neurons.items()} == neurons
    tr = DriftTracker(ns, *probe, byte_tokenizer(), every=2, out=tmp_path / "drift.jsonl")
    r0 = tr.start(model)
    r = tr.measure(4, model)
    for rec in (r0, r):
        assert rec["iou"] == 1.0 and rec["rank_corr"] == pytest.approx(1.0) and rec["iou_vs_set"] == 1.0
        assert set(rec["iou_per_layer"].values()) == {1.0}
        assert rec["dp_abs_selected"] == rec["dp_abs_other"] == 0.0
        for k in ("delta_selected", "delta_unselected", "delta_other", "delta_outside_layers"):
            assert rec[k] == 0.0
    assert [json.loads(x)["step"] for x in (tmp_path / "drift.jsonl").read_text().splitlines()] == [4]
    assert (tr.due(2), tr.due(3), tr.due(0)) == (True, False, False)
    assert tr(3, model) is None and tr(2, model)["step"] == 2


def test_a_set_found_in_some_layers_is_tracked_from_those_layers(probe):
    """A set discovered with `layers="0:1"` is re-selected from statistics of layer 0 alone, read the same way
    (LAPE's quantiles over that layer), so at the start it re-selects itself; layer 1 never runs."""
    model, _ = planted_model("qwen2", per_layer=4)
    stats = collect_stats(model, byte_tokenizer(), *probe, layers="0:1")
    ns = select_neurons(stats, "lape", "ko", ["en"], per_layer=4, model=model, **LAPE)
    ran = []
    model.model.layers[1].register_forward_pre_hook(lambda *_: ran.append(1))
    rec = DriftTracker(ns, *probe, byte_tokenizer()).start(model)
    assert not ran and rec["iou_vs_set"] == 1.0
    assert list(rec["dp_abs_other_per_layer"]) == ["0"]


def test_silencing_planted_neurons_drops_overlap(planted, probe):
    model, neurons, ns = planted
    tr = DriftTracker(ns, *probe, byte_tokenizer())
    tr.start(model)
    silenced = __import__("copy").deepcopy(model)
    with torch.no_grad():
        for layer, idx in neurons.items():
            silenced.model.layers[layer].mlp.gate_proj.weight[idx] = 0.0  # act(gate) = silu(0) = 0: never active
    r = tr.measure(10, silenced)
    assert r["iou"] < 0.5 and r["iou_vs_set"] < 0.5
    # layer-0 neurons read nothing the planted ones write; layer-1 ones see the changed residual norm
    assert r["dp_abs_other_per_layer"]["0"] == 0
    assert r["dp_selected"] < -0.5 and r["dp_abs_selected"] > 3 * r["dp_abs_other"]
    assert r["delta_selected"] > 0 and r["delta_unselected"] == 0 and r["delta_other"] == 0
    # the same figures from statistics and selection computed here, independently of the tracker
    tok = byte_tokenizer()
    before = select_neurons(collect_stats(model, tok, *probe, max_length=tr.max_length), "lape", "ko", ["en"], per_layer=4, model=model, **LAPE)
    s_after = collect_stats(silenced, tok, *probe, max_length=tr.max_length)
    after = select_neurons(s_after, "lape", "ko", ["en"], per_layer=4, model=silenced, **LAPE)
    a, b = before.mask(), after.mask()
    assert r["iou"] == pytest.approx(float((a & b).sum() / (a | b).sum()))
    stats = pytest.importorskip("scipy.stats")
    assert r["rank_corr"] == pytest.approx(stats.spearmanr(before.scores.flatten().numpy(),
                                                           after.scores.flatten().numpy()).statistic, abs=1e-9)
    g = s_after.languages.index("ko")
    sel = ns.mask()
    dp = s_after.prob()[:, g] - before.stats.prob()[:, g]
    assert r["dp_selected"] == pytest.approx(float(dp[sel].mean()))


def _perturb_neurons(model, family: str, layer: int, idx: list[int], eps: float) -> float:
    """Add `eps` to every weight of neurons `idx` by hand (family layouts written out); returns the squared norm added."""
    with torch.no_grad():
        if family == "gpt2":
            mlp = model.transformer.h[layer].mlp
            mlp.c_fc.weight[:, idx] += eps  # Conv1D (in, out): neuron i is column i
            mlp.c_fc.bias[idx] += eps
            mlp.c_proj.weight[idx, :] += eps  # (in=width, out): neuron i is row i
            per = mlp.c_fc.weight.shape[0] + 1 + mlp.c_proj.weight.shape[1]
        elif family == "phi3":
            mlp = model.model.layers[layer].mlp
            W = mlp.down_proj.weight.shape[1]
            mlp.gate_up_proj.weight[idx] += eps  # gate rows
            mlp.gate_up_proj.weight[[W + i for i in idx]] += eps  # up rows
            mlp.down_proj.weight[:, idx] += eps
            per = 2 * mlp.gate_up_proj.weight.shape[1] + mlp.down_proj.weight.shape[0]
        else:
            mlp = model.model.layers[layer].mlp
            mlp.gate_proj.weight[idx] += eps
            mlp.up_proj.weight[idx] += eps
            mlp.down_proj.weight[:, idx] += eps
            per = mlp.gate_proj.weight.shape[1] + mlp.up_proj.weight.shape[1] + mlp.down_proj.weight.shape[0]
    return per * eps * eps


@pytest.mark.parametrize("family", ["qwen2", "gpt2", "phi3"])
def test_weight_deltas_land_on_the_moved_weights(family, probe):
    model = tiny_model(family)
    ns = hand_set(model, {1: [2, 7, 30]})
    tr = DriftTracker(ns, *probe, byte_tokenizer(), selection=CONTRAST)
    tr.start(model)
    per_neuron_sq = _perturb_neurons(model, family, 1, [2, 7, 30], 0.01)
    r = tr.measure(1, model)
    assert r["delta_selected"] == pytest.approx(per_neuron_sq ** 0.5, rel=1e-4)
    assert r["delta_selected_per_layer"] == {"1": pytest.approx(per_neuron_sq ** 0.5, rel=1e-4)}
    assert r["delta_unselected"] == 0 and r["delta_other"] == 0 and r["delta_outside_layers"] == 0
    # a neuron outside the set moves: "unselected" (RMS over the other W-3 neurons of layer 1 and all of layer 0)
    _perturb_neurons(model, family, 0, [5], 0.02)
    r = tr.measure(2, model)
    W = ns.fingerprint["mlp_width"]
    assert r["delta_unselected_per_layer"]["0"] == pytest.approx((per_neuron_sq * 4 / W) ** 0.5, rel=1e-4)
    assert r["delta_unselected_per_layer"]["1"] == 0
    # attention of layer 1 and the embeddings: "other" and "outside"
    with torch.no_grad():
        attn = model.transformer.h[1].attn.c_attn.weight if family == "gpt2" else model.model.layers[1].self_attn.o_proj.weight
        attn[0, 0] += 0.5
        model.get_input_embeddings().weight[3, 0] += 0.25
    r = tr.measure(3, model)
    assert r["delta_other_per_layer"] == {"0": 0, "1": pytest.approx(0.5)}
    assert r["delta_outside_layers"] == pytest.approx(0.25)


def test_sparse_adapter_deltas_are_folded_in(probe):
    from kolang.tuning.trainable import prepare

    model = tiny_model("qwen2")
    ns = hand_set(model, {0: [1, 4], 1: [9]})
    tr = DriftTracker(ns, *probe, byte_tokenizer(), selection=CONTRAST)
    tr.start(model)
    trainable = prepare(model, "neurons", [0, 1], ns)
    total = 0.0
    with torch.no_grad():
        for p in trainable.params:
            p.normal_(0, 0.01)
            total += float(p.double().pow(2).sum())
    assert len(tr.snapshot) == len(list(effective_weights(trainable.model)))  # same names with the adapter in place
    r = tr.measure(1, trainable.model)
    assert r["delta_selected"] == pytest.approx((total / 3) ** 0.5, rel=1e-4)
    assert r["delta_unselected"] == 0 and r["delta_other"] == 0


def test_weight_modes_and_bad_inputs(planted, probe):
    model, _, ns = planted
    tok = byte_tokenizer()
    full = DriftTracker(ns, *probe, tok, weights="all")
    full.start(model)
    only = DriftTracker(ns, *probe, tok, weights="neurons")
    only.start(model)
    assert only.snapshot_bytes() < full.snapshot_bytes()
    assert only.measure(1, model)["delta_other"] is None
    frozen = __import__("copy").deepcopy(model).requires_grad_(False)
    none = DriftTracker(ns, *probe, tok)
    none.start(frozen)
    assert none.snapshot_bytes() == 0  # nothing can train: nothing copied
    with pytest.raises(ConfigError):
        DriftTracker(ns, *probe, tok, every=0)
    with pytest.raises(DataError, match="target language"):
        DriftTracker(ns, ["hello"], ["en"], tok)
    with pytest.raises(ConfigError, match="cannot be re-run"):
        DriftTracker(ns.random_matched(), *probe, tok)
    with pytest.raises(NeuronSetError):
        DriftTracker(ns, *probe, tok).start(tiny_model("gpt2"))
    with pytest.raises(ConfigError, match="start"):
        DriftTracker(ns, *probe, tok).measure(1, model)


def test_probe_and_figure():
    t1, l1 = probe_set_from_tasks(6, seed=1)
    t2, l2 = probe_set_from_tasks(6, seed=1)
    assert (t1, l1) == (t2, l2) and l1.count("ko") == l1.count("en") == 6
    assert probe_set_from_tasks(6, seed=2)[0] != t1
    with pytest.raises(DataError):
        probe_set_from_tasks(6, langs=("ko", "fr"))
    recs = [{"step": s, "iou": 1 - s / 10, "rank_corr": 1.0, "dp_abs_selected": s / 100, "dp_abs_other": 0.0,
             "delta_selected": s, "delta_unselected": 0.0, "delta_other": None, "delta_outside_layers": 0.0}
            for s in (4, 0, 2)]
    fig = drift_figure(recs)
    assert len(fig.data) == 8 and list(fig.data[0].x) == [0, 2, 4]


def _cli(argv, capsys):
    from kolang.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    return e.value.code, capsys.readouterr().err


def test_cli_over_model_dirs(tmp_path, capsys):
    from kolang.tiny import save_tiny

    a = save_tiny(tmp_path / "a", "qwen2", seed=0)
    b = tmp_path / "b"
    model = tiny_model("qwen2", seed=0)
    ns = hand_set(model, {0: [3], 1: [8, 9]})
    ns.params = {"per_layer": 4}
    ns.save(tmp_path / "ns")
    _perturb_neurons(model, "qwen2", 1, [8], 0.01)
    model.save_pretrained(b)
    byte_tokenizer().save_pretrained(b)
    code, err = _cli(["drift", "--models", str(a), str(b), "--neurons", str(tmp_path / "ns"), "--probe-size", "4",
                      "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    recs = [json.loads(x) for x in (tmp_path / "out" / "drift.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [0, 1] and recs[1]["source"] == str(b)
    assert recs[1]["delta_selected_per_layer"]["1"] > 0 and recs[1]["delta_unselected"] == 0
    assert (tmp_path / "out" / "drift.html").stat().st_size > 1000
    for argv, words in [
        (["drift", "--models", str(a), str(tmp_path / "nope"), "--neurons", str(tmp_path / "ns"), "--out", "x"], "does not exist"),
        (["drift", "--run", str(tmp_path / "nope"), "--neurons", str(tmp_path / "ns")], "does not exist"),
        (["drift", "--run", str(tmp_path / "a"), "--neurons", str(tmp_path / "ns")], "checkpoint"),
        (["drift", "--models", str(a), str(b), "--out", "x"], "--neurons"),
        (["drift", "--models", str(a), str(b), "--neurons", str(tmp_path / "ns")], "--out"),
        (["drift", str(a), str(b), "--neurons", str(tmp_path / "ns"), "--out", "x"], "--models"),
    ]:
        code, err = _cli(argv, capsys)
        assert code == 2 and words in err.strip().splitlines()[-1] and "Traceback" not in err, err
    g = save_tiny(tmp_path / "g", "gpt2")
    code, err = _cli(["drift", "--models", str(g), str(g), "--neurons", str(tmp_path / "ns"), "--out",
                      str(tmp_path / "o2")], capsys)
    last = err.strip().splitlines()[-1]  # after the command's first line, printed before the model loads
    assert code == 2 and "another model" in last and last.startswith("kolang: error:") and "Traceback" not in err
