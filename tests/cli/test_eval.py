"""`kolang eval` end to end: a model folder or the organism, each bundled schema, eval.json, completions and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kolang.io import read_jsonl

SCHEMAS = Path(__file__).parents[1] / "data" / "schemas"
OPTS = ["--samples", "2", "--max-new-tokens", "6", "--bootstrap", "100"]


@pytest.mark.parametrize("schema", ["gsm8k", "mgsm", "hrm8k", "math"])
def test_eval_writes_its_files_for_each_schema(schema, tiny_dir, tmp_path, cli, one_thread):
    out = tmp_path / "ev"
    r = cli("eval", "--model", tiny_dir, "--data", SCHEMAS / f"{schema}.jsonl", "--out", out, "--target", "en", *OPTS)
    assert r.code == 0, r.err
    assert r.lines[0].startswith("eval: ")
    result = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    n = len(read_jsonl(SCHEMAS / f"{schema}.jsonl"))
    assert result["n"] == n and result["model"] == str(tiny_dir) and result["language_path"] == "fasttext-lid176"
    assert set(result["sets"]) == {"all"}
    rates = result["sets"]["all"]["sampled"]
    assert {"accuracy", "pass@k", "target_share_thought", "target_share_answer", "tokens", "truncation_rate"} <= set(rates)
    assert all(set(v) == {"value", "low", "high"} for k, v in rates.items() if k != "k")
    rows = read_jsonl(out / "completions.jsonl")
    assert len(rows) == 3 * n and {r["mode"] for r in rows} == {"greedy", "sampled"}
    if schema in ("math", "hrm8k"):
        assert "by_level" in result["sets"]["all"] or "by_subject" in result["sets"]["all"]
    again = cli("eval", "--model", tiny_dir, "--data", SCHEMAS / f"{schema}.jsonl", "--out", out, "--target", "en", *OPTS)
    assert again.code == 0 and json.loads((out / "eval.json").read_text(encoding="utf-8"))["sets"] == result["sets"]


def test_eval_on_the_organism_and_in_the_report(micro_organism, tmp_path, cli, monkeypatch, one_thread):
    monkeypatch.setenv("KOLANG_CACHE", str(micro_organism.parent))
    monkeypatch.chdir(tmp_path)
    r = cli("eval", "--model", "organism:micro", "--data", SCHEMAS / "hrm8k.jsonl", "--no-greedy", "--lang", "ko", *OPTS)
    assert r.code == 0, r.err
    out = tmp_path / "eval-organism-micro"
    result = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert result["model"] == str(micro_organism) and set(result["sets"]) == {"ko"}
    assert "greedy" not in result["sets"]["ko"] and result["language_path"] == "script"
    assert cli("report", out).code == 0
    assert "<section id='eval'>" in (out / "report.html").read_text(encoding="utf-8")
