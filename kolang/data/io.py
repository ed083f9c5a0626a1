"""Reading user data files (JSONL, JSON, or anything `datasets` reads) with one-line errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kolang.errors import DataError
from kolang.io import atomic_write_text, json_text, read_jsonl


def read_records(path: str | Path, required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read a JSONL (or JSON list, CSV, Parquet via `datasets`) file, or a `datasets` save_to_disk folder, into dicts.

    Raises `DataError` for a missing or empty file, bytes that are not UTF-8, a line that is not a
    JSON object (naming the line), or records lacking a `required` field.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    if path.is_dir():
        if not is_dataset_dir(path):
            raise DataError(f"{path} is a directory; pass a JSONL file (or a folder written by `datasets` save_to_disk)")
        return _check(path, _read_dataset_dir(path), required)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".csv", ".arrow"):
        try:
            import datasets  # deferred: 1.4 s of pyarrow and pandas, needed only for non-JSON files

            kind = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}[suffix]
            records = list(datasets.load_dataset(kind, data_files=str(path), split="train"))
        except Exception as e:  # datasets raises many types
            raise DataError(f"cannot read {path}: {e}") from e
    elif suffix == ".json" and path.read_bytes().lstrip()[:1] == b"[":  # one JSON list
        try:
            records = json.loads(path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError as e:
            raise DataError(f"{path} is not UTF-8 text (byte {e.start}); re-encode it as UTF-8") from None
        except json.JSONDecodeError as e:
            raise DataError(f"{path} is not valid JSON: {e}") from None
        for n, rec in enumerate(records, 1):
            if not isinstance(rec, dict):
                raise DataError(f"{path}: record {n} is {type(rec).__name__}, expected a JSON object")
    else:
        if not path.read_bytes().strip():
            raise DataError(f"data file {path} is empty")
        records = read_jsonl(path)
    return _check(path, records, required)


def _check(path: Path, records: list[dict[str, Any]], required: Sequence[str]) -> list[dict[str, Any]]:
    if not records:
        raise DataError(f"data file {path} holds no records")
    for n, rec in enumerate(records, 1):
        lacking = [k for k in required if k not in rec]
        if lacking:
            raise DataError(f"{path}: record {n} lacks field(s) {', '.join(lacking)}")
    return records


def is_dataset_dir(path: Path) -> bool:
    """Whether `path` is a folder written by `datasets`' `save_to_disk` (a dataset or a dict of splits)."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def _read_dataset_dir(path: Path) -> list[dict[str, Any]]:
    """The records of a `save_to_disk` folder; a dict of splits must hold one split, or be named by it."""
    try:
        import datasets  # deferred: 1.4 s of pyarrow and pandas, needed only for arrow folders

        data = datasets.load_from_disk(str(path))
    except Exception as e:  # datasets raises many types
        raise DataError(f"cannot read {path}: {e}") from e
    if isinstance(data, datasets.DatasetDict):
        if len(data) != 1:
            raise DataError(f"{path} holds the splits {', '.join(data)}; give one of them, e.g. {path / next(iter(data))}")
        data = next(iter(data.values()))
    return list(data)


def write_jsonl(path: str | Path, records: Sequence[dict[str, Any]]) -> Path:
    """Write records as UTF-8 JSONL, atomically; returns the path."""
    atomic_write_text(path, "".join(json_text(r) + "\n" for r in records))
    return Path(path)
