"""Problem sets in the public benchmarks' schemas, read as RL records; files, parquet and arrow folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from kolang.data.io import read_records, write_jsonl
from kolang.data.schemas import detect_schema, to_records
from kolang.errors import DataError

HERE = Path(__file__).parent / "schemas"


@pytest.mark.parametrize("schema, answers, levels, subjects", [
    ("gsm8k", ["8", "48", "3600", "13"], [None] * 4, [None] * 4),
    ("mgsm", ["8", "48", "13"], [None] * 3, [None] * 3),
    ("hrm8k", ["8", "48", "7", "0.75"], [None] * 4, ["GSM8K", "GSM8K", "MATH", "MATH"]),
    ("math", ["\\frac{3}{4}", "4", "2\\sqrt{3}", "6"], ["1", "2", "2", "3"],
     ["Prealgebra", "Algebra", "Algebra", "Number Theory"]),
])
def test_each_bundled_schema_maps(schema, answers, levels, subjects):
    rows = read_records(HERE / f"{schema}.jsonl")
    assert detect_schema(rows[0]) == schema
    for chosen in ("auto", schema):
        recs = to_records(rows, chosen, lang="xx")
        assert [r["answer"] for r in recs] == answers
        assert [r.get("level") for r in recs] == levels and [r.get("subject") for r in recs] == subjects
        assert all(r["prompt"] and r["lang"] == "xx" for r in recs)


def test_kolang_records_pass_through():
    recs = to_records([{"prompt": "1 더하기 1은?", "answer": 2, "lang": "ko", "level": 1}])
    assert recs == [{"prompt": "1 더하기 1은?", "answer": "2", "lang": "ko", "level": "1"}]


@pytest.mark.parametrize("rows, schema, words", [
    ([{"text": "x"}], "auto", "cannot tell the schema"),
    ([{"question": "q", "answer": "no hashes"}], "gsm8k", "no reference answer"),
    ([{"problem": "p", "solution": "no box"}], "math", "no reference answer"),
    ([{"question": "q", "answer": "1"}, {"question": "q"}], "hrm8k", "record 2 lacks 'answer'"),
    ([{"question": "q"}], "mgsm", "lacks 'answer_number'"),
    ([{"question": "q", "answer": "1"}], "squad", "unknown schema"),
    ([], "auto", "no records"),
])
def test_bad_records_are_one_clear_error(rows, schema, words):
    with pytest.raises(DataError, match=words):
        to_records(rows, schema)


def test_parquet_and_arrow_folders(tmp_path):
    import datasets

    rows = read_records(HERE / "gsm8k.jsonl")
    ds = datasets.Dataset.from_list(rows)
    ds.to_parquet(str(tmp_path / "gsm8k.parquet"))
    ds.save_to_disk(str(tmp_path / "arrow"))
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "splits"))
    for path in (tmp_path / "gsm8k.parquet", tmp_path / "arrow", tmp_path / "splits" / "test"):
        assert [r["answer"] for r in to_records(read_records(path))] == ["8", "48", "3600", "13"]
    with pytest.raises(DataError, match="splits train, test"):
        read_records(tmp_path / "splits")
    (tmp_path / "plain").mkdir()
    write_jsonl(tmp_path / "plain" / "a.jsonl", rows)
    # a folder of data files reads as datasets reads it (kolang.data.io)
    assert [r["answer"] for r in to_records(read_records(tmp_path / "plain"))] == ["8", "48", "3600", "13"]
