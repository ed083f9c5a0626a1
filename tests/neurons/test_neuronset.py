"""NeuronSet: artifact round trip, fingerprint refusal, LAPE mask format, malformed directories, derived sets."""

from __future__ import annotations

import json

import pytest
import torch

from kolang.errors import ConfigError, NeuronSetError
from kolang.neurons.neuronset import JSON_NAME, TENSORS_NAME, NeuronSet, save_lape_mask
from kolang.neurons.stats import ActivationStats

FP = {"family": "qwen2", "model_type": "qwen2", "num_layers": 4, "mlp_width": 16, "hidden_size": 8}


def stats() -> ActivationStats:
    g = torch.Generator().manual_seed(0)
    s = torch.randn(4, 2, 16, generator=g, dtype=torch.float64)
    return ActivationStats(["en", "ko"], torch.tensor([10, 12]), s, s * s, torch.randint(0, 10, (4, 2, 16), generator=g),
                           torch.tensor([2, 3]), torch.randn(5, 4, 16, generator=g), torch.tensor([0, 0, 1, 1, 1]))


def make(**kw) -> NeuronSet:
    base = dict(neurons={0: [3, 1, 3], 2: torch.tensor([15, 0]), 3: []}, fingerprint=FP, method="lape", target="ko",
                reference=["en"], params={"top_rate": 0.01, "layers": [0, 1, 2, 3]},
                scores=torch.arange(64.0).reshape(4, 16), stats=stats())
    base.update(kw)
    return NeuronSet(**base)


def test_construction_normalises_indices():
    ns = make()
    assert ns.neurons[0].dtype == torch.int64 and ns.neurons[0].tolist() == [1, 3]
    assert ns.layers() == [0, 2] and ns.counts() == {0: 2, 2: 2} and len(ns) == 4
    m = ns.mask()
    assert m.shape == (4, 16) and int(m.sum()) == 4 and m[2, 15] and m[0, 1]


@pytest.mark.parametrize("neurons,match", [({0: [16]}, "outside the MLP width 16"), ({0: [-1]}, "outside"),
                                           ({4: [0]}, "out of range"), ({0: [0.5]}, "integers")])
def test_construction_rejects_bad_indices(neurons, match):
    with pytest.raises(NeuronSetError, match=match):
        NeuronSet(neurons, FP)


def test_save_load_round_trip(tmp_path):
    ns = make()
    ns.save(tmp_path / "set")
    meta = json.loads((tmp_path / "set" / JSON_NAME).read_text())
    assert meta["neurons"] == {"0": [1, 3], "2": [0, 15]} and meta["counts"] == {"0": 2, "2": 2}
    assert meta["fingerprint"] == FP and meta["method"] == "lape" and meta["reference"] == ["en"]
    back = NeuronSet.load(tmp_path / "set")
    assert back == ns and back.method == "lape" and back.target == "ko" and back.params == ns.params
    assert torch.equal(back.scores, ns.scores)
    for k, v in ns.stats.tensors().items():
        if k not in ("text_means", "text_langs"):  # large; kept only when asked
            assert torch.equal(getattr(back.stats, k), v), k
    assert back.stats.languages == ["en", "ko"] and back.stats.text_means is None
    ns.save(tmp_path / "set", keep_text_means=True)  # overwrite in place, atomically
    assert torch.equal(NeuronSet.load(tmp_path / "set" / JSON_NAME).stats.text_means, ns.stats.text_means)


def test_save_without_scores_or_stats(tmp_path):
    ns = NeuronSet({1: [2]}, FP)
    back = NeuronSet.load(ns.save(tmp_path / "s"))
    assert back == ns and back.scores is None and back.stats is None


def test_fingerprint_mismatch_is_refused(tmp_path):
    from kolang.tiny import tiny_model

    model = tiny_model("qwen2")  # 2 layers, width 64, hidden 32
    ns = make()
    with pytest.raises(NeuronSetError, match=r"layer count: set 4 vs model 2; MLP width: set 16 vs model 64; hidden size"):
        ns.check(model)
    ns.save(tmp_path / "s")
    with pytest.raises(NeuronSetError, match="another model"):
        NeuronSet.load(tmp_path / "s", model=model)
    with pytest.raises(NeuronSetError, match="family: set 'qwen2' vs model 'llama'"):
        ns.check({**FP, "family": "llama"})
    from kolang.arch import resolve

    ok = NeuronSet({1: [63]}, resolve(model).fingerprint())
    ok.check(model)
    ok.check(resolve(model))
    assert ok.nnsight_paths(model) == {1: "model.layers.1.mlp.down_proj"}
    assert ok.tl_hook_names() == {1: "blocks.1.mlp.hook_post"}
    from nnsight import LanguageModel

    from kolang.tiny import byte_tokenizer

    wrapped = LanguageModel(model, tokenizer=byte_tokenizer())
    assert ok.nnsight_paths(wrapped) == {1: "model.layers.1.mlp.down_proj"}
    ok.check(wrapped)
    wrapped.get_submodule(ok.nnsight_paths(wrapped)[1])  # the path names a real module of the wrapped model


def write(dirpath, meta=None, tensors=True):
    dirpath.mkdir()
    if meta is not None:
        (dirpath / JSON_NAME).write_text(meta if isinstance(meta, str) else json.dumps(meta))
    if tensors:
        from safetensors.torch import save_file

        save_file({}, str(dirpath / TENSORS_NAME))
    return dirpath


GOOD = {"format_version": 1, "fingerprint": FP, "neurons": {"0": [1]}}


@pytest.mark.parametrize("meta,tensors,match", [
    (None, True, "neurons.json is missing"),
    (GOOD, False, "neurons.safetensors is missing"),
    ("{not json", True, "not valid JSON"),
    ("[1, 2]", True, "JSON object"),
    ({**GOOD, "format_version": 99}, True, "format_version 99"),
    ({**GOOD, "fingerprint": None}, True, "'fingerprint' is missing"),
    ({**GOOD, "neurons": {"0": [16]}}, True, "outside the MLP width 16"),
    ({**GOOD, "neurons": {"9": [1]}}, True, "out of range"),
    ({**GOOD, "neurons": {"x": [1]}}, True, "layer number"),
    ({**GOOD, "neurons": {"0": ["a"]}}, True, "list of integers"),
])
def test_malformed_directories(tmp_path, meta, tensors, match):
    d = write(tmp_path / "bad", meta, tensors)
    with pytest.raises(NeuronSetError, match=match):
        NeuronSet.load(d)


def test_missing_dir_and_corrupt_tensors(tmp_path):
    with pytest.raises(NeuronSetError, match="no neuron set"):
        NeuronSet.load(tmp_path / "nothing")
    d = write(tmp_path / "bad", GOOD, tensors=False)
    (d / TENSORS_NAME).write_bytes(b"garbage")
    with pytest.raises(NeuronSetError, match="cannot be read"):
        NeuronSet.load(d)
    assert NeuronSet.load(write(tmp_path / "good", GOOD)).counts() == {0: 1}


def test_lape_mask_round_trip(tmp_path):
    ns = make()
    mask = ns.to_lape_mask(tmp_path / "mask")
    assert len(mask) == 1 and len(mask[0]) == 4 and [m.tolist() for m in mask[0]] == [[1, 3], [], [0, 15], []]
    loaded = torch.load(tmp_path / "mask", weights_only=True)  # what the reference scripts read
    assert all(t.dtype == torch.int64 for t in loaded[0])
    back = NeuronSet.from_lape_mask(tmp_path / "mask", FP, target="ko")
    assert back == ns and back.target == "ko" and back.method == "lape"
    other = NeuronSet({1: [7]}, FP, target="en")
    both = save_lape_mask([other, ns], tmp_path / "two")
    assert len(both) == 2
    assert NeuronSet.from_lape_mask(tmp_path / "two", FP, lang=1) == ns
    assert NeuronSet.from_lape_mask(both, FP, lang=0) == other
    with pytest.raises(NeuronSetError, match="layers but the model has"):
        NeuronSet.from_lape_mask(both, {**FP, "num_layers": 5})
    with pytest.raises(NeuronSetError, match="language 2 not in the mask"):
        NeuronSet.from_lape_mask(both, FP, lang=2)
    with pytest.raises(NeuronSetError, match="cannot read"):
        NeuronSet.from_lape_mask(tmp_path / "nope", FP)
    with pytest.raises(NeuronSetError, match="another model"):
        save_lape_mask([ns, NeuronSet({0: [1]}, {**FP, "mlp_width": 32})])


def test_restrict():
    ns = make()
    assert ns.restrict("1:").counts() == {2: 2}
    assert ns.restrict(range(0, 1)).counts() == {0: 2}
    assert ns.restrict([0, 2]) == ns
    assert ns.restrict("2:").params["restricted_to"] == [2, 3]
    with pytest.raises(ConfigError, match="out of range"):
        ns.restrict("0:5")


def test_random_matched():
    ns = NeuronSet({0: list(range(6)), 3: [1, 2]}, FP, method="ap")
    r = ns.random_matched(seed=3)
    assert r.counts() == ns.counts() and r.method == "random" and r.params["matched_to"] == "ap"
    assert not (r.mask() & ns.mask()).any()
    assert r == ns.random_matched(seed=3)
    assert r != ns.random_matched(seed=4)
    big = NeuronSet({0: list(range(10))}, FP)
    with pytest.raises(NeuronSetError, match="exclude_self=False"):
        big.random_matched()
    assert big.random_matched(exclude_self=False).counts() == {0: 10}
