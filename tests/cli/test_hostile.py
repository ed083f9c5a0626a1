"""Hostile input to every command: one line on stderr, exit status 2, and nothing kolang did not write is
touched. Each case names the folders that must come out byte for byte as they went in."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import datasets
import pytest
import torch

from kolang.data.io import write_jsonl
from kolang.neurons.neuronset import NeuronSet, fingerprint_of
from kolang.tiny import save_tiny, tiny_model

PAIRS = [{"ko": k, "en": e} for k, e in [
    ("안녕하세요 반갑습니다", "hello, nice to meet you"), ("오늘은 날씨가 좋네요", "the weather is nice today"),
    ("저는 학교에 갑니다", "I go to school"), ("커피 한 잔 주세요", "a cup of coffee please"),
]]
SFT = [{"prompt": f"{a} 더하기 1은?", "completion": f"{a} 더하기 1은 {a + 1}입니다."} for a in range(6)]
RL = [{"prompt": f"{a} 더하기 1은?", "answer": str(a + 1), "lang": "ko"} for a in range(4)]
TUNE = ["--steps", "2", "--batch-size", "2", "--save-every", "1", "--layers", "0:1"]
RL_OPTS = ["--steps", "2", "--group-size", "2", "--prompts-per-step", "1", "--max-completion-length", "4",
           "--no-filter-groups", "--save-every", "1", "--threads", "1"]


def tree(path: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `path` (or of `path` itself), for before/after checks."""
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """A world of inputs: a model, another model's neuron set, data files, a finished tune and rl run, a user folder."""
    from kolang.rl.config import RLConfig
    from kolang.rl.trainer import GRPOTrainer
    from kolang.tuning.config import TuneConfig
    from kolang.tuning.sft import tune

    root = tmp_path_factory.mktemp("world")
    m = save_tiny(root / "model", "qwen2")
    ns = NeuronSet({0: [1, 2], 1: [3]}, fingerprint_of(tiny_model("qwen2")), method="contrast", target="ko",
                   reference=["en"], params={"per_layer": 2})
    ns.save(root / "ns")
    NeuronSet({}, fingerprint_of(tiny_model("qwen2")), method="contrast", target="ko").save(root / "empty_ns")
    NeuronSet({0: [1, 2]}, fingerprint_of(tiny_model("qwen2")), method="random", target="ko").save(root / "random_ns")
    save_tiny(root / "wide", "qwen2", width=96)
    write_jsonl(root / "pairs.jsonl", PAIRS)
    write_jsonl(root / "ko_only.jsonl", [{"text": "안녕하세요", "lang": "ko"}] * 3)
    write_jsonl(root / "sft.jsonl", SFT)
    write_jsonl(root / "null.jsonl", [{"prompt": "1 더하기 1은?", "completion": None}])
    write_jsonl(root / "rl.jsonl", RL)
    tune(TuneConfig(model=str(m), data=str(root / "sft.jsonl"), out=str(root / "tuned"), neurons=str(root / "ns"),
                    steps=2, batch_size=2, save_every=1, layers="0:1"))
    rl = RLConfig(model=str(m), data=str(root / "rl.jsonl"), out=str(root / "rl_run"), neurons=str(root / "ns"),
                  steps=2, group_size=2, prompts_per_step=1, max_completion_length=4, filter_groups=False,
                  save_every=1, threads=1)
    GRPOTrainer(rl).train()
    flores = datasets.Dataset.from_dict({"sentence_kor_Hang": [p["ko"] for p in PAIRS],
                                         "sentence_eng_Latn": [p["en"] for p in PAIRS]})
    flores.save_to_disk(str(root / "flores"))
    datasets.DatasetDict({"dev": flores, "devtest": flores}).save_to_disk(str(root / "flores_splits"))
    (root / "user").mkdir()
    (root / "user" / "notes.txt").write_text("mine")
    (root / "file.txt").write_text("a file")
    return root


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst) if src.is_dir() else shutil.copy2(src, dst)
    return dst


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


# Each case: (w, tmp) -> (argv, words the error line holds, paths that must stay untouched).
Case = Callable[[Path, Path], tuple[list, str, list[Path]]]

CASES: dict[str, Case] = {
    # --- data loss -------------------------------------------------------------------------------
    "discover --out onto the model": lambda w, t: (
        ["discover", "--model", copy(w / "model", t / "m"), "--out", t / "m", "--data", w / "pairs.jsonl"],
        "did not write", [t / "m"]),
    "validate --out onto the model": lambda w, t: (
        ["validate", "--model", copy(w / "model", t / "m"), "--neurons", w / "ns", "--out", t / "m",
         "--data", w / "pairs.jsonl"], "did not write", [t / "m"]),
    "discover --out onto a user folder": lambda w, t: (
        ["discover", "--model", w / "model", "--out", copy(w / "user", t / "u")], "did not write", [t / "u"]),
    "drift --out onto its own run": lambda w, t: (
        ["drift", "--run", copy(w / "rl_run", t / "r"), "--neurons", w / "ns", "--out", t / "r"],
        "did not write", [t / "r"]),
    "demo --fresh onto a user folder": lambda w, t: (
        ["demo", "--fresh", "--size", "micro", "--out", copy(w / "user", t / "u")], "did not write", [t / "u"]),
    "rl --resume --force onto a model": lambda w, t: (
        ["rl", "--model", w / "model", "--data", w / "rl.jsonl", "--out", copy(w / "model", t / "m"), "--resume",
         "--force", *RL_OPTS], "not a kolang run folder", [t / "m"]),
    "rl onto a model": lambda w, t: (
        ["rl", "--model", w / "model", "--data", w / "rl.jsonl", "--out", copy(w / "model", t / "m"), *RL_OPTS],
        "not a kolang run folder", [t / "m"]),
    "rl --resume onto a tune run": lambda w, t: (
        ["rl", "--model", w / "model", "--data", w / "rl.jsonl", "--out", copy(w / "tuned", t / "r"), "--resume",
         *RL_OPTS], "kolang tune", [t / "r"]),
    "tune --resume onto a model": lambda w, t: (
        ["tune", "--model", w / "model", "--data", w / "sft.jsonl", "--neurons", w / "ns", "--out",
         copy(w / "model", t / "m"), "--resume", *TUNE], "not a kolang run folder", [t / "m"]),
    "report --out onto a folder": lambda w, t: (
        ["report", copy(w / "tuned", t / "r"), "--out", copy(w / "user", t / "u")], "is a folder", [t / "r", t / "u"]),
    "report over a user's report.html": lambda w, t: (
        ["report", copy(w / "tuned", t / "r"), "--out", copy(w / "file.txt", t / "report.html")],
        "not a kolang report", [t / "r", t / "report.html"]),
    # --- wrong results with exit 0 ---------------------------------------------------------------
    "validate --n-random 0": lambda w, t: (
        ["validate", "--model", w / "model", "--neurons", w / "ns", "--out", t / "v", "--data", w / "pairs.jsonl",
         "--n-random", "0"], "--n-random", []),
    "validate --n-random -1": lambda w, t: (
        ["validate", "--model", w / "model", "--neurons", w / "ns", "--out", t / "v", "--n-random", "-1"],
        "--n-random", []),
    "validate --min-ratio below 1": lambda w, t: (
        ["validate", "--model", w / "model", "--neurons", w / "ns", "--out", t / "v", "--min-ratio", "0.5"],
        "--min-ratio", []),
    "validate --min-ratio nan": lambda w, t: (
        ["validate", "--model", w / "model", "--neurons", w / "ns", "--out", t / "v", "--min-ratio", "nan"],
        "--min-ratio", []),
    "organism --ko-ko above the Korean questions' share": lambda w, t: (
        ["organism", "--train", "--size", "micro", "--cache", t / "c", "--ko-ko", "0.9"], "--ko-ko", []),
    "organism --ko-ko nan": lambda w, t: (
        ["organism", "--train", "--size", "micro", "--cache", t / "c", "--ko-ko", "nan"], "--ko-ko", []),
    "experiment --sweep negative": lambda w, t: (
        ["experiment", "--size", "micro", "--out", t / "x", "--sweep", "-0.1"], "--sweep", []),
    "experiment --sweep-arms unknown": lambda w, t: (
        ["experiment", "--size", "micro", "--out", t / "x", "--sweep-arms", "nope"], "unknown arm", []),
    "eval --revision for the organism": lambda w, t: (
        ["eval", "--model", "organism:micro", "--data", w / "rl.jsonl", "--out", t / "e", "--revision", "v1"],
        "--revision", []),
    "eval --device and --device-map together": lambda w, t: (
        ["eval", "--model", w / "model", "--data", w / "rl.jsonl", "--out", t / "e", "--device", "cpu",
         "--device-map", "auto"], "--device-map", []),
    "discover --per-layer above the width": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--data", w / "pairs.jsonl", "--method", "contrast",
         "--per-layer", "65"], "MLP width", []),
    "discover ap --per-layer both ways above the width": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--data", w / "pairs.jsonl", "--method", "ap",
         "--per-layer", "40"], "both directions", []),
    "tune on a null completion": lambda w, t: (
        ["tune", "--model", w / "model", "--data", w / "null.jsonl", "--neurons", w / "ns", "--out", t / "r", *TUNE],
        "'completion' is null", []),
    "tune --lr inf": lambda w, t: (
        ["tune", "--model", w / "model", "--data", w / "sft.jsonl", "--neurons", w / "ns", "--out", t / "r", *TUNE,
         "--lr", "inf"], "--lr", []),
    "tune --resume after the data changed": lambda w, t: (
        ["tune", "--model", w / "model", "--data", write_jsonl(t / "other.jsonl", SFT[::-1]), "--neurons", w / "ns",
         "--out", copy(w / "tuned", t / "r"), "--resume", *TUNE], "data changed", [t / "r"]),
    "validate an empty set": lambda w, t: (
        ["validate", "--model", w / "model", "--neurons", w / "empty_ns", "--out", t / "v", "--data",
         w / "pairs.jsonl"], "no neurons", []),
    "validate one-language data": lambda w, t: (
        ["validate", "--model", w / "model", "--neurons", w / "ns", "--out", t / "v", "--data", w / "ko_only.jsonl"],
        "one language", []),
    "validate --max-texts 0": lambda w, t: (
        ["validate", "--model", w / "model", "--neurons", w / "ns", "--out", t / "v", "--max-texts", "0"],
        "--max-texts", []),
    "discover --max-texts 0": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--max-texts", "0"], "--max-texts", []),
    # --- tracebacks ------------------------------------------------------------------------------
    "truncated model.safetensors": lambda w, t: (
        ["discover", "--model", _damaged_model(w, t), "--out", t / "n"], "cannot load the model weights", [t / "m"]),
    "truncated trainable.safetensors on --resume": lambda w, t: (
        ["tune", "--model", w / "model", "--data", w / "sft.jsonl", "--neurons", w / "ns", "--out",
         _damaged_run(w, t, "trainable.safetensors"), "--resume", *TUNE, "--steps", "3"], "cannot be read", [t / "r"]),
    "truncated optimizer.pt on --resume": lambda w, t: (
        ["tune", "--model", w / "model", "--data", w / "sft.jsonl", "--neurons", w / "ns", "--out",
         _damaged_run(w, t, "optimizer.pt"), "--resume", *TUNE, "--steps", "3"], "cannot be read", [t / "r"]),
    "torn run config.json": lambda w, t: (
        ["tune", "--model", w / "model", "--data", w / "sft.jsonl", "--neurons", w / "ns", "--out",
         _damaged_run(w, t, "../config.json"), "--resume", *TUNE], "cannot be read", [t / "r"]),
    "--device cuda without CUDA": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--device", "cuda"], "CUDA", []),
    "--device banana": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--device", "banana"], "not a device", []),
    "--out under /proc": lambda w, t: (
        ["discover", "--model", w / "model", "--out", "/proc/kolang-out"], "--out", []),
    "--out below a file": lambda w, t: (
        ["discover", "--model", w / "model", "--out", copy(w / "file.txt", t / "f.txt") / "ns"], "is a file",
        [t / "f.txt"]),
    "--out .": lambda w, t: (
        ["discover", "--model", w / "model", "--out", "."], "current folder", []),
    "a declared tokenizer that cannot load": lambda w, t: (
        ["discover", "--model", _wordpiece_model(w, t), "--out", t / "n"], "tokenizer", [t / "m"]),
    "drift --models that do not match": lambda w, t: (
        ["drift", "--models", w / "model", w / "wide", "--neurons", w / "ns", "--out", t / "d"], "MLP width", []),
    "eval --samples 0": lambda w, t: (
        ["eval", "--model", w / "model", "--data", w / "rl.jsonl", "--out", t / "e", "--samples", "0"], "--samples", []),
    "eval --schema that does not exist": lambda w, t: (
        ["eval", "--model", w / "model", "--data", w / "rl.jsonl", "--out", t / "e", "--schema", "squad"], "--schema",
        []),
    "eval records lacking the schema's field": lambda w, t: (
        ["eval", "--model", w / "model", "--data", w / "rl.jsonl", "--out", t / "e", "--schema", "gsm8k"],
        "lacks 'question'", []),
    "eval records of no known schema": lambda w, t: (
        ["eval", "--model", w / "model", "--data", w / "pairs.jsonl", "--out", t / "e"], "cannot tell the schema", []),
    "eval --data a folder that is no dataset": lambda w, t: (
        ["eval", "--model", w / "model", "--data", copy(w / "user", t / "u"), "--out", t / "e"], "save_to_disk",
        [t / "u"]),
    "eval --data that does not exist": lambda w, t: (
        ["eval", "--model", w / "model", "--data", t / "missing.jsonl", "--out", t / "e"], "does not exist", []),
    "eval --out onto the model": lambda w, t: (
        ["eval", "--model", copy(w / "model", t / "m"), "--data", w / "rl.jsonl", "--out", t / "m"], "did not write",
        [t / "m"]),
    "eval --model organism of no size": lambda w, t: (
        ["eval", "--model", "organism:huge", "--data", w / "rl.jsonl", "--out", t / "e"], "organism comes in", []),
    # --- messages --------------------------------------------------------------------------------
    "a file as --model": lambda w, t: (
        ["discover", "--model", w / "file.txt", "--out", t / "n"], "is a file", []),
    "a set that cannot be re-run, in drift": lambda w, t: (
        ["drift", "--models", w / "model", w / "model", "--neurons", w / "random_ns", "--out", t / "d"], "--reselect",
        []),
    "demo --layers out of range, before any stage": lambda w, t: (
        ["demo", "--size", "micro", "--layers", "0:9", "--out", t / "demo"], "--layers", []),
    "an unknown --param": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--param", "nonsense"], "NAME=VALUE", []),
    # --- models named by hub id, placed by a device map, read with another attention kernel --------------
    "a hub id not cached, offline": lambda w, t: (
        ["discover", "--model", "org/absent", "--out", t / "n"], "HF_HUB_OFFLINE=1 forbids downloading", []),
    "tune on a hub id not cached, offline": lambda w, t: (
        ["tune", "--model", "org/absent", "--data", w / "sft.jsonl", "--neurons", w / "ns", "--out", t / "r", *TUNE],
        "hf download org/absent", []),
    "--revision on a local folder": lambda w, t: (
        ["validate", "--model", w / "model", "--revision", "main", "--neurons", w / "ns", "--out", t / "v"],
        "applies to a hub id", []),
    "--device-map banana": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--device-map", "banana"], "--device-map banana", []),
    "--device-map onto a GPU that is not there": lambda w, t: (
        ["validate", "--model", w / "model", "--neurons", w / "ns", "--out", t / "v", "--device-map", '{"": 9}'],
        "GPU 9", []),
    "--device-map and --device": lambda w, t: (
        ["drift", "--models", w / "model", w / "model", "--neurons", w / "ns", "--out", t / "d", "--device-map",
         "auto", "--device", "cpu"], "not both", []),
    "--device-map to disk without --offload-folder": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--device-map", '{"": "disk"}'], "--offload-folder", []),
    "an unknown --attn-implementation": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--attn-implementation", "fastest"],
        "--attn-implementation fastest", []),
    # --- corpora read through a column mapping ------------------------------------------------------
    "--pair-fields naming a missing column": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--data", w / "flores", "--pair-fields",
         "ko=sentence_kor_Hang,en=english"], "no column english", [w / "flores"]),
    "--pair-fields naming a language the JSONL lacks": lambda w, t: (
        ["validate", "--model", w / "model", "--neurons", w / "ns", "--out", t / "v", "--data", w / "pairs.jsonl",
         "--pair-fields", "ko,ja"], "lacks field(s) ja", []),
    "--pair-fields of one column": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--data", w / "flores", "--pair-fields", "ko"],
        "two or more", []),
    "a saved dataset of several splits": lambda w, t: (
        ["discover", "--model", w / "model", "--out", t / "n", "--data", w / "flores_splits", "--pair-fields",
         "ko=sentence_kor_Hang,en=sentence_eng_Latn"], "holds the splits dev, devtest", []),
}


def _damaged_model(w: Path, t: Path) -> Path:
    m = copy(w / "model", t / "m")
    truncate(m / "model.safetensors")
    return m


def _damaged_run(w: Path, t: Path, name: str) -> Path:
    r = copy(w / "tuned", t / "r")
    truncate(r / "checkpoint" / name)
    return r


def _wordpiece_model(w: Path, t: Path) -> Path:
    m = copy(w / "model", t / "m")
    cfg = json.loads((m / "tokenizer_config.json").read_text())
    cfg["tokenizer_class"] = "BertTokenizer"  # declared, but its vocab.txt is not there
    (m / "tokenizer_config.json").write_text(json.dumps(cfg))
    (m / "tokenizer.json").unlink()
    return m


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_line_and_touches_nothing(name, w, tmp_path, cli, monkeypatch, one_thread, hub_cache):
    # hub_cache: an empty Hugging Face cache, offline, so a hub id reaches no network
    monkeypatch.chdir(tmp_path)
    if name == "--device cuda without CUDA" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv, words, keep = CASES[name](w, tmp_path)
    before = {p: tree(p) for p in keep}
    world = tree(w)
    result = cli(*argv)
    result.one_line_error(words)
    assert {p: tree(p) for p in keep} == before
    assert tree(w) == world
    assert not [p for p in tmp_path.rglob(".*.tmp")], "a temporary was left behind"


def test_bool_options_render_as_flags(cli):
    for command in ("tune", "rl", "demo", "organism"):
        assert "<bool>" not in cli(command, "--help").out
    assert "--no-filter-groups" in cli("rl", "--help").out
