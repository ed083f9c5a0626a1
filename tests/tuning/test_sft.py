"""Masked SFT: completion-only labels, length skipping, resumable runs, comparators, CLI errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from kolang.cli import main
from kolang.data.chat import format_prompt
from kolang.errors import DataError
from kolang.neurons.neuronset import NeuronSet, fingerprint_of
from kolang.tiny import tiny_model
from kolang.tuning.sft import TuneConfig, tune
from kolang.tuning.sftdata import IGNORE, encode_sft


def _write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_dir):
    root = tmp_path_factory.mktemp("sft")
    ns_dir = NeuronSet({0: [1, 2, 3], 1: [9]}, fingerprint_of(tiny_model("qwen2")), method="test").save(root / "ns")
    data = _write(root / "d.jsonl", [{"prompt": f"{i} 더하기 {i}?", "completion": f"답은 {2 * i}입니다."} for i in range(12)])
    return root, tiny_dir, ns_dir, data


def test_labels_cover_completion_only(byte_tok):
    recs = [{"prompt": "2+2?", "completion": "4"},
            {"messages": [{"role": "user", "content": "안녕?"}, {"role": "assistant", "content": "네"}]},
            {"prompt": "x" * 100, "completion": "y"}]
    enc = encode_sft(recs, byte_tok, max_length=40)
    assert enc.skipped == 1 and len(enc.input_ids) == 2
    p = byte_tok(format_prompt(byte_tok, "2+2?"), add_special_tokens=False)["input_ids"]
    assert enc.input_ids[0][: len(p)] == p
    assert enc.labels[0] == [IGNORE] * len(p) + byte_tok("4", add_special_tokens=False)["input_ids"] + [byte_tok.eos_token_id]
    with pytest.raises(DataError, match="longer than max_length"):
        encode_sft(recs[2:], byte_tok, max_length=40)
    with pytest.raises(DataError, match="neither"):
        encode_sft([{"text": "a"}], byte_tok, max_length=40)


def test_resume_reproduces(setup):
    root, model, ns, data = setup
    cfg = TuneConfig(model=str(model), data=str(data), out=str(root / "full_run"), neurons=str(ns), layers="0:2",
                     steps=5, batch_size=3, lr=1e-2, save_every=2)
    ref = tune(cfg)
    cut = TuneConfig(**{**cfg.__dict__, "out": str(root / "cut_run")})
    assert tune(cut, stop_after=3).get("interrupted")
    res = tune(cut, resume=True)
    assert res["steps"] == 5
    a = load_file(root / "full_run" / "adapter" / "adapter_model.safetensors")
    b = load_file(root / "cut_run" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(x)["step"] for x in (root / "cut_run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2, 3, 4]
    assert ref["final_loss"] == res["final_loss"]
    assert tune(cut, resume=True)["final_loss"] == res["final_loss"]  # resuming a finished run changes nothing


@pytest.mark.parametrize("kind", ["lora", "full", "random"])
def test_comparators_train_the_same_layers(setup, kind):
    root, model, ns, data = setup
    res = tune(TuneConfig(model=str(model), data=str(data), out=str(root / kind), neurons=str(ns), adapter=kind,
                          layers="0:1", steps=2, batch_size=2, merge=True))
    assert res["trainable_params"] > 0 and (root / kind / "merged" / "model.safetensors").is_file()
    merged = load_file(root / kind / "merged" / "model.safetensors")
    base = tiny_model("qwen2").state_dict()
    changed = {k for k, v in merged.items() if not torch.equal(v, base[k])}
    assert changed and all(k.startswith("model.layers.0.") for k in changed)


def test_cli_errors(setup, tmp_path, capsys):
    root, model, ns, data = setup
    other = NeuronSet({0: [1]}, fingerprint_of(tiny_model("qwen2", width=128)), method="x").save(tmp_path / "other")
    empty = _write(tmp_path / "e.jsonl", [])
    long = _write(tmp_path / "l.jsonl", [{"prompt": "p" * 50, "completion": "c"}])
    cases = [
        (["--neurons", str(other)], "another model"),
        (["--neurons", str(ns), "--layers", "1:2", "--adapter", "neurons"], None),  # layer 1 holds neuron 9: fine
        (["--neurons", str(NeuronSet({1: [9]}, fingerprint_of(tiny_model("qwen2"))).save(tmp_path / "l1")),
          "--layers", "0:1"], "no neurons in layers"),
        (["--neurons", str(ns), "--data", str(empty)], "empty"),
        (["--neurons", str(ns), "--data", str(long), "--max-length", "20"], "longer than max_length"),
    ]
    for n, (args, msg) in enumerate(cases):
        argv = ["tune", "--model", str(model), "--data", str(data), "--out", str(tmp_path / f"run{n}"),
                "--steps", "1", "--batch-size", "2", *args]
        if msg is None:
            main(argv)
            continue
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert msg in capsys.readouterr().err
