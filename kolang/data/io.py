"""Reading user data (JSONL, JSON, or any file or folder `datasets` reads from disk) with one-line errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kolang.errors import DataError, first_line
from kolang.io import atomic_write_text, json_text, read_jsonl

# File suffixes read through `datasets` (its packaged loaders), and the loader each takes.
DATASET_FILES = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


def read_records(path: str | Path, required: Sequence[str] = (), columns: Sequence[str] | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
    """Read a data file or folder into dicts: JSONL, a JSON list, CSV, Parquet or Arrow, a folder written by
    `datasets.Dataset.save_to_disk`, or a folder of data files `datasets.load_dataset` reads.

    `columns` keeps only those fields (each must be present), `limit` the first records. Raises
    `DataError` for a missing or empty source, bytes that are not UTF-8, a line that is not a JSON
    object (naming the line), a dataset of several splits, or records lacking a `required` field.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in DATASET_FILES:
        records = _read_dataset(path, list(columns) if columns is not None else None, limit)
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
    if limit is not None:
        records = records[:limit]
    if not records:
        raise DataError(f"data file {path} holds no records")
    for n, rec in enumerate(records, 1):
        lacking = [k for k in (*required, *(columns or ())) if k not in rec]
        if lacking:
            raise DataError(f"{path}: record {n} lacks field(s) {', '.join(lacking)}")
    if columns is not None:
        records = [{k: rec[k] for k in columns} for rec in records]
    return records


def is_dataset_dir(path: Path) -> bool:
    """Whether `path` is a folder `read_records` reads: one `datasets` saved (`save_to_disk`), or a folder of
    data files (JSON lines, parquet, CSV, arrow)."""
    if not path.is_dir():
        return False
    if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
        return True
    return any(f.suffix.lower() in (*DATASET_FILES, ".jsonl", ".json") for f in path.iterdir() if f.is_file())


def _read_dataset(path: Path, columns: list[str] | None, limit: int | None) -> list[dict[str, Any]]:
    """Records of a `datasets`-readable file or folder; only `columns` (checked to exist) and the first `limit` rows."""
    import datasets  # deferred: 1.4 s of pyarrow and pandas, needed only for these sources

    splits_file = path / "dataset_dict.json"
    if splits_file.is_file():  # a DatasetDict saved to disk: one folder a split
        try:
            splits = json.loads(splits_file.read_text(encoding="utf-8"))["splits"]
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{splits_file} cannot be read: {e}") from None
        if len(splits) != 1:
            raise DataError(f"{path} holds the splits {', '.join(splits)}; give one of them, e.g. {path / splits[0]}")
        path = path / splits[0]
    saved = path.is_dir() and (path / "state.json").is_file()  # written by Dataset.save_to_disk
    if path.is_dir() and not saved and (path / "config.json").is_file():  # datasets would read it as a table
        raise DataError(f"{path} is a model folder, not data")
    try:
        if saved:
            ds = datasets.load_from_disk(str(path))
        elif path.is_dir():
            ds = datasets.load_dataset(str(path))
        else:
            ds = datasets.load_dataset(DATASET_FILES[path.suffix.lower()], data_files=str(path))
    except Exception as e:  # datasets raises many types (no data files, a torn arrow file, a bad CSV row)
        raise DataError(f"cannot read {path} with datasets ({type(e).__name__}: {first_line(e)})") from None
    if isinstance(ds, datasets.DatasetDict):
        if len(ds) != 1:
            raise DataError(f"{path} holds the splits {', '.join(ds)}; point --data at one split's files")
        ds = next(iter(ds.values()))
    if columns is not None:
        lacking = [c for c in columns if c not in ds.column_names]
        if lacking:
            raise DataError(f"{path} has no column {', '.join(lacking)} (its columns: {', '.join(ds.column_names)})")
        ds = ds.select_columns(columns)
    if limit is not None and limit < len(ds):
        ds = ds.select(range(limit))
    return ds.to_list()


def write_jsonl(path: str | Path, records: Sequence[dict[str, Any]]) -> Path:
    """Write records as UTF-8 JSONL, atomically; returns the path."""
    atomic_write_text(path, "".join(json_text(r) + "\n" for r in records))
    return Path(path)
