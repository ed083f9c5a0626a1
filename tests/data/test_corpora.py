"""Discovery corpora as people keep them: `datasets` folders and files (a FLORES-200-like parallel split, a
Wikipedia-like one-language dump, FLORES+-like rows with a language column) read through a column mapping."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from kolang.data.discovery import CorpusConfig, load_discovery, records_to_texts, split_source
from kolang.data.io import read_records, write_jsonl
from kolang.errors import ConfigError, DataError

KO = ["안녕하세요", "오늘은 날씨가 좋네요", "저는 학교에 갑니다"]
EN = ["hello", "the weather is nice today", "I go to school"]
FLORES = CorpusConfig(pair_fields="ko=sentence_kor_Hang,en=sentence_eng_Latn")


@pytest.fixture(scope="module")
def flores(tmp_path_factory):
    """A FLORES-200-like DatasetDict (dev, devtest) of parallel kor_Hang/eng_Latn columns, saved with datasets."""
    root = tmp_path_factory.mktemp("flores")
    split = datasets.Dataset.from_dict({"id": [1, 2, 3], "URL": ["u"] * 3, "sentence_kor_Hang": KO,
                                        "sentence_eng_Latn": EN})
    datasets.DatasetDict({"dev": split, "devtest": split.select([2, 1, 0])}).save_to_disk(str(root / "flores"))
    return root / "flores"


def test_a_flores_split_saved_with_datasets_reads_with_pair_fields(flores):
    texts, langs = load_discovery(flores / "dev", FLORES)
    assert texts == [t for pair in zip(KO, EN) for t in pair] and langs == ["ko", "en"] * 3
    with pytest.raises(DataError, match=r"holds the splits dev, devtest; give one of them, e\.g\. .*flores/dev"):
        load_discovery(flores, FLORES)
    with pytest.raises(DataError, match=r"has no column english \(its columns: id, URL, sentence_kor_Hang"):
        load_discovery(flores / "dev", CorpusConfig(pair_fields="ko=sentence_kor_Hang,en=english"))


def test_one_language_dumps_read_as_lang_equals_path(tmp_path):
    for lang, texts in (("ko", KO), ("en", EN)):
        datasets.Dataset.from_dict({"id": ["1", "2", "3"], "title": ["t"] * 3, "text": texts}).save_to_disk(
            str(tmp_path / f"wiki_{lang}"))
    texts, langs = load_discovery([f"ko={tmp_path / 'wiki_ko'}", f"en={tmp_path / 'wiki_en'}"])
    assert texts == KO + EN and langs == ["ko"] * 3 + ["en"] * 3
    texts, langs = load_discovery([f"ko={tmp_path / 'wiki_ko'}", f"en={tmp_path / 'wiki_en'}"], max_texts=2)
    assert texts == KO[:2] + EN[:2]  # only the first rows of each dump are read
    with pytest.raises(ConfigError, match="one language"):
        load_discovery([f"ko={tmp_path / 'wiki_ko'}"], FLORES)
    assert split_source("ko=a/b") == ("ko", Path("a/b"))


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl", "folder"])
def test_rows_with_a_language_column_in_any_format(tmp_path, suffix):
    rows = datasets.Dataset.from_dict({"text": KO + EN, "iso_639_3": ["kor"] * 3 + ["eng"] * 3,
                                       "glottocode": ["x"] * 6})
    path = tmp_path / f"flores_plus.{suffix}"
    if suffix == "parquet":
        rows.to_parquet(str(path))
    elif suffix == "csv":
        rows.to_csv(str(path), index=False)
    elif suffix == "jsonl":
        write_jsonl(path, rows.to_list())
    else:
        path.mkdir()
        rows.to_parquet(str(path / "train-00000-of-00001.parquet"))  # as a hub dataset's files lie on disk
    texts, langs = load_discovery(path, CorpusConfig(lang_field="iso_639_3"))
    assert texts == KO + EN and langs == ["kor"] * 3 + ["eng"] * 3


def test_mapped_fields_are_checked():
    records = [{"t": "안녕", "l": "ko"}, {"t": None, "l": "en"}]
    with pytest.raises(DataError, match="record 2 needs a string 't' field"):
        records_to_texts(records, "d", CorpusConfig(text_field="t", lang_field="l"))
    with pytest.raises(DataError, match="record 1 needs a string 'lang' field"):
        records_to_texts([{"t": "안녕"}], "d", CorpusConfig(text_field="t"))
    assert records_to_texts([{"ko": "안녕", "en": "hi", "ja": "x"}], "d", CorpusConfig(pair_fields="ko,en")) == (
        ["안녕", "hi"], ["ko", "en"])
    with pytest.raises(DataError, match="--text-field/--lang-field or --pair-fields"):
        records_to_texts([{"sentence": "hi"}], "d")


@pytest.mark.parametrize("kw, match", [
    ({"pair_fields": "ko"}, "two or more"),
    ({"pair_fields": "ko,Korean Text"}, "not LANG or LANG=COLUMN"),
    ({"pair_fields": "ko,ko=b"}, "twice"),
    ({"pair_fields": "ko,en", "text_field": "t"}, "not both"),
])
def test_bad_mappings_are_refused(kw, match):
    with pytest.raises(ConfigError, match=match):
        CorpusConfig(**kw)


def test_jsonl_with_pair_fields_names_the_missing_field(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"ko": k, "en": e} for k, e in zip(KO, EN)])
    with pytest.raises(DataError, match="record 1 lacks field"):
        load_discovery(path, CorpusConfig(pair_fields="ko,ja"))
    assert read_records(path, columns=["ko"], limit=2) == [{"ko": KO[0]}, {"ko": KO[1]}]


def test_a_model_folder_is_not_data(tiny_dir):
    with pytest.raises(DataError, match="model folder, not data"):
        read_records(tiny_dir)


def test_discover_reads_a_flores_split_from_the_command_line(flores, tiny_dir, tmp_path, cli, one_thread):
    r = cli("discover", "--model", tiny_dir, "--data", flores / "devtest", "--pair-fields",
            "ko=sentence_kor_Hang,en=sentence_eng_Latn", "--method", "contrast", "--per-layer", "2",
            "--out", tmp_path / "ns")
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "ns" / "neurons.json").read_text())["target"] == "ko"
