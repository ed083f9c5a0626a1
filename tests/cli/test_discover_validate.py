"""`kolang discover` and `kolang validate` end to end, and every bad input answered with one line, exit 2."""

import json

import pytest

from kolang.data.io import write_jsonl

PAIRS = [{"ko": k, "en": e} for k, e in [
    ("안녕하세요 반갑습니다", "hello, nice to meet you"), ("오늘은 날씨가 좋네요", "the weather is nice today"),
    ("저는 학교에 갑니다", "I go to school"), ("커피 한 잔 주세요", "a cup of coffee please"),
    ("책을 읽고 있어요", "I am reading a book"), ("내일 다시 만나요", "see you again tomorrow"),
]]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("data") / "pairs.jsonl", PAIRS)


def test_discover_then_validate(tiny_dir, data, tmp_path, cli):
    code, err = cli(*["discover", "--model", str(tiny_dir), "--data", str(data), "--method", "contrast",
                     "--per-layer", "3", "--out", str(tmp_path / "ns")])
    assert code == 0, err
    meta = json.loads((tmp_path / "ns" / "neurons.json").read_text())
    assert meta["target"] == "ko" and meta["method"] == "contrast"
    assert sum(len(v) for v in meta["neurons"].values()) == 6
    assert (tmp_path / "ns" / "neurons.safetensors").is_file()
    code, err = cli(*["validate", "--model", str(tiny_dir), "--neurons", str(tmp_path / "ns"), "--data", str(data),
                     "--n-random", "2", "--out", str(tmp_path / "val")])
    assert code == 0, err
    result = json.loads((tmp_path / "val" / "validation.json").read_text())
    assert set(result["conditions"]) == {"none", "ablate_set", "ablate_random_0", "ablate_random_1"}
    assert "plotly" in (tmp_path / "val" / "validation.html").read_text()[:200000].lower()


def test_discover_with_bundled_sentences(tiny_dir, tmp_path, cli):
    code, err = cli(*["discover", "--model", str(tiny_dir), "--method", "lape", "--top-fraction", "0.05",
                     "--layers", "0:1", "--max-texts", "40", "--out", str(tmp_path / "ns")])
    assert code == 0, err
    meta = json.loads((tmp_path / "ns" / "neurons.json").read_text())
    assert set(meta["neurons"]) <= {"0"}


def _one_line_error(code, err, needle):
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines[-1].startswith("kolang: error:") and needle in lines[-1], err
    assert "Traceback" not in err


def test_bad_inputs(tiny_dir, data, tmp_path, cli):
    out = str(tmp_path / "o")
    base = ["discover", "--model", str(tiny_dir), "--out", out]
    _one_line_error(*cli(*base + ["--data", str(tmp_path / "nope.jsonl")]), "does not exist")
    (tmp_path / "empty.jsonl").write_text("")
    _one_line_error(*cli(*base + ["--data", str(tmp_path / "empty.jsonl")]), "empty")
    write_jsonl(tmp_path / "ko.jsonl", [{"text": "안녕하세요", "lang": "ko"}] * 3)
    _one_line_error(*cli(*base + ["--data", str(tmp_path / "ko.jsonl")]), "one language only")
    (tmp_path / "latin1.jsonl").write_bytes('{"text": "caf\xe9", "lang": "en"}\n'.encode("latin-1"))
    _one_line_error(*cli(*base + ["--data", str(tmp_path / "latin1.jsonl")]), "not UTF-8")
    (tmp_path / "bad.jsonl").write_text('{"ko": "안녕"}\nnot json\n')
    _one_line_error(*cli(*base + ["--data", str(tmp_path / "bad.jsonl")]), "bad.jsonl:2")
    _one_line_error(*cli(*base + ["--data", str(data), "--layers", "0:9"]), "layer")
    _one_line_error(*cli(*base + ["--data", str(data), "--top-fraction", "1.5"]), "top-fraction")
    _one_line_error(*cli(*["discover", "--model", str(tmp_path / "nomodel"), "--out", out, "--data", str(data)]),
                    "does not exist")
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    _one_line_error(*cli(*["discover", "--model", str(bert), "--out", out, "--data", str(data)]),
                    "supported families")
    assert not (tmp_path / "o").exists()  # nothing half-written


@pytest.mark.parametrize("argv, words", [
    (["organism", "--no-such-option"], "No such option"),
    (["tune", "--steps", "many"], "--steps"),
    (["rl", "--temperature", "hot"], "--temperature"),
])
def test_usage_errors_are_one_line(argv, words, cli):
    _one_line_error(*cli(*argv), words)


def test_neuron_set_for_another_model_is_refused(tiny_dir, data, tmp_path, cli):
    from kolang.tiny import save_tiny

    other = save_tiny(tmp_path / "wide", "qwen2", width=96)
    code, err = cli(*["discover", "--model", str(other), "--data", str(data), "--method", "contrast",
                     "--per-layer", "2", "--out", str(tmp_path / "ns")])
    assert code == 0, err
    _one_line_error(*cli(*["validate", "--model", str(tiny_dir), "--neurons", str(tmp_path / "ns"), "--data", str(data),
                          "--out", str(tmp_path / "v")]), "MLP width")
    _one_line_error(*cli(*["validate", "--model", str(tiny_dir), "--neurons", str(tmp_path / "missing"),
                          "--out", str(tmp_path / "v")]), "missing")


QA = [{"question": q, "text": t, "lang": lang} for q, t, lang in [
    ("3 더하기 4는?", "3 더하기 4는 7입니다.", "ko"), ("5 빼기 2는?", "5 빼기 2는 3입니다.", "ko"),
    ("2 곱하기 3은?", "2 곱하기 3은 6입니다.", "ko"), ("What is 3 plus 4?", "3 plus 4 is 7.", "en"),
    ("What is 5 minus 2?", "5 minus 2 is 3.", "en"), ("What is 2 times 3?", "2 times 3 is 6.", "en"),
]]


def test_validate_scores_each_text_after_its_context_as_the_api_does(tiny_dir, tmp_path, cli):
    from kolang.analysis.validate import validate
    from kolang.data.chat import format_prompt
    from kolang.models import load_model
    from kolang.neurons.neuronset import NeuronSet

    data = write_jsonl(tmp_path / "qa.jsonl", QA)
    code, err = cli(*["discover", "--model", str(tiny_dir), "--data", str(data), "--method", "contrast",
                     "--per-layer", "3", "--out", str(tmp_path / "ns")])
    assert code == 0, err
    argv = ["validate", "--model", str(tiny_dir), "--neurons", str(tmp_path / "ns"), "--data", str(data),
            "--n-random", "2"]
    code, err = cli(*argv, "--context-field", "question", "--out", str(tmp_path / "val"))
    assert code == 0, err
    assert "scored after its 'question'" in err
    got = json.loads((tmp_path / "val" / "validation.json").read_text())
    model, tok = load_model(str(tiny_dir))
    want = validate(model, tok, NeuronSet.load(tmp_path / "ns", model), [r["text"] for r in QA],
                    [r["lang"] for r in QA], n_random=2, contexts=[format_prompt(tok, r["question"]) for r in QA])
    assert got["conditions"] == json.loads(json.dumps(want["conditions"]))
    code, err = cli(*argv, "--out", str(tmp_path / "plain"))  # without the field: the texts alone, other NLLs
    assert code == 0, err
    plain = json.loads((tmp_path / "plain" / "validation.json").read_text())
    assert plain["conditions"]["none"]["ko"]["nll"] != got["conditions"]["none"]["ko"]["nll"]


def test_context_field_errors_are_one_line(tiny_dir, tmp_path, cli):
    data = write_jsonl(tmp_path / "qa.jsonl", QA)
    base = ["validate", "--model", str(tiny_dir), "--neurons", str(tmp_path / "ns"), "--out", str(tmp_path / "v")]
    code, err = cli(*["discover", "--model", str(tiny_dir), "--data", str(data), "--method", "contrast",
                     "--per-layer", "2", "--out", str(tmp_path / "ns")])
    assert code == 0, err
    _one_line_error(*cli(*base, "--data", str(data), "--context-field", "prompt"), "'prompt'")
    _one_line_error(*cli(*base, "--context-field", "question"), "give --data")
    pairs = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    _one_line_error(*cli(*base, "--data", str(pairs), "--context-field", "question"), "parallel")
    _one_line_error(*cli(*base, "--data", str(data), "--context-field", " "), "column name")
    assert not (tmp_path / "v").exists()
