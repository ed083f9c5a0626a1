"""Device maps for the read-only stages: `--device-map auto`, an explicit map with CPU and disk offload through
accelerate's hooks, and the attention kernel, all measuring what the model on one device measures."""

from __future__ import annotations

import json

import pytest
import torch

from kolang.errors import ConfigError, ModelError
from kolang.loading import LoadConfig, SourceConfig, parse_device_map
from kolang.models import load_model
from kolang.tiny import save_tiny

# Layer 1 and the head read back from disk, the rest on the CPU: every kind of placement on a CPU-only machine.
OFFLOADED = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "disk", "model.layers.2": "cpu",
             "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "disk"}
TEXTS = ["안녕하세요 반갑습니다", "hello, nice to meet you", "오늘은 날씨가 좋네요", "the weather is nice today"]
LANGS = ["ko", "en", "ko", "en"]


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("dm") / "m", "qwen2", layers=3)


@pytest.mark.parametrize("device_map", ["auto", "sequential", OFFLOADED])
def test_a_device_map_measures_what_one_device_does(three, tmp_path, device_map, one_thread):
    from kolang.analysis.validate import validate
    from kolang.neurons.neuronset import NeuronSet, fingerprint_of
    from kolang.neurons.stats import collect_stats

    ref, tok = load_model(three, dtype="fp32")
    model, _ = load_model(three, dtype="fp32", device_map=device_map, offload_folder=tmp_path / "off")
    if isinstance(device_map, dict):
        assert model.hf_device_map == OFFLOADED
        assert model.get_submodule("model.layers.1.mlp.down_proj").weight.device.type == "meta"  # read back per pass
    batch = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, ref(**batch).logits, atol=1e-6)
    got, want = collect_stats(model, tok, TEXTS, LANGS).tensors(), collect_stats(ref, tok, TEXTS, LANGS).tensors()
    assert all(torch.equal(got[k], want[k]) for k in want)
    ns = NeuronSet({0: [1, 2], 1: [3, 4]}, fingerprint_of(ref))
    assert validate(model, tok, ns, TEXTS, LANGS, n_random=1)["conditions"] == \
        validate(ref, tok, ns, TEXTS, LANGS, n_random=1)["conditions"]


def test_drift_reads_offloaded_weights_back(tmp_path, cli, one_thread):
    a, b = save_tiny(tmp_path / "a", "qwen2", layers=3), save_tiny(tmp_path / "b", "qwen2", layers=3, seed=1)
    assert cli("discover", "--model", a, "--method", "contrast", "--per-layer", "3", "--max-texts", "20",
               "--out", tmp_path / "ns").code == 0
    common = ["drift", "--models", a, b, "--neurons", tmp_path / "ns", "--probe-size", "16"]
    assert cli(*common, "--out", tmp_path / "plain").code == 0
    r = cli(*common, "--out", tmp_path / "mapped", "--device-map", json.dumps(OFFLOADED), "--offload-folder",
            tmp_path / "off")
    assert r.code == 0, r.err
    plain, mapped = ([json.loads(ln) for ln in (tmp_path / d / "drift.jsonl").read_text().splitlines()]
                     for d in ("plain", "mapped"))
    drop = ("measure_s", "source")
    assert [{k: v for k, v in x.items() if k not in drop} for x in mapped] == \
        [{k: v for k, v in x.items() if k not in drop} for x in plain]
    assert mapped[1]["delta_selected"] > 0


def test_attention_kernels_pass_through(three):
    model, _ = load_model(three, attn_implementation="sdpa")
    assert model.config._attn_implementation == "sdpa"
    model, _ = load_model(three, attn_implementation="eager")
    assert model.config._attn_implementation == "eager"


def test_placement_contradictions_are_refused(three):
    with pytest.raises(ConfigError, match="not both"):
        load_model(three, device="cpu", device_map="auto")
    with pytest.raises(ConfigError, match="GPU 7"):
        load_model(three, device_map={"": 7})
    partial = {k: v for k, v in OFFLOADED.items() if k != "model.norm"}
    with pytest.raises(ModelError, match="does not give any device for the following parameters: model.norm.weight"):
        load_model(three, device_map=partial, offload_folder=three.parent / "off")
    with pytest.raises(ConfigError, match="already loaded"):
        load_model(torch.nn.Linear(2, 2), device_map="auto")


def test_device_map_values(tmp_path):
    assert parse_device_map("auto") == "auto" and parse_device_map(None) is None
    assert parse_device_map('{"model": 0, "lm_head": "cpu"}') == {"model": 0, "lm_head": "cpu"}
    (tmp_path / "map.json").write_text(json.dumps({"": "cuda:1"}))
    assert parse_device_map(str(tmp_path / "map.json")) == {"": "cuda:1"}
    for bad, match in [("banana", "not one of auto"), ("{not json", "not valid JSON"), ("{}", "must map"),
                       ('{"lm_head": "gpu"}', "not a device"), ('{"lm_head": -1}', "not a device"),
                       ('{"lm_head": true}', "not a device"), ("[0, 1]", "not one of auto")]:
        with pytest.raises(ConfigError, match=match):
            parse_device_map(bad)
    with pytest.raises(ConfigError, match="--offload-folder"):
        LoadConfig(device_map='{"": "disk"}')
    with pytest.raises(ConfigError, match="not one of eager"):
        SourceConfig(attn_implementation="fast")
    with pytest.raises(ConfigError, match="flash_attn package"):
        import importlib.util

        if importlib.util.find_spec("flash_attn") is not None:
            pytest.skip("flash-attn is installed here")
        SourceConfig(attn_implementation="flash_attention_2")
