"""Problem sets in the schemas users bring, read as kolang's RL records.

kolang's records are `{"prompt", "answer", "lang"}` with an optional `level` and `subject`
(`kolang.data.tasks.rl_records`). Public benchmarks come in their own fields:

| schema | question | reference answer | breakdown |
|---|---|---|---|
| gsm8k | `question` | `answer`, the worked solution ending in `#### N` | — |
| mgsm | `question` | `answer_number` | — |
| hrm8k | `question` | `answer` (the value itself) | `subject` or `category` if present |
| math | `problem` | `answer`, else the last `\\boxed{}` of `solution` | `level` ("Level 3" → "3"), `type` or `subject` |

`auto` picks the schema from the first record's fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kolang.data.answers import find_statements
from kolang.errors import DataError

SCHEMAS = ("auto", "kolang", "gsm8k", "mgsm", "hrm8k", "math")
# The fields each schema needs, in the order the error message names them.
FIELDS = {"kolang": ("prompt", "answer"), "gsm8k": ("question", "answer"), "mgsm": ("question", "answer_number"),
          "hrm8k": ("question", "answer"), "math": ("problem",)}
_GSM8K_END = re.compile(r"####\s*(.+?)\s*$", re.S)
_LEVEL = re.compile(r"^\s*(?:level\s*)?(\S+)\s*$", re.I)


def detect_schema(record: dict[str, Any]) -> str:
    """The schema a record's fields say it is in; `DataError` when none fits."""
    if "prompt" in record:
        return "kolang"
    if "problem" in record:
        return "math"
    if "question" in record and "answer_number" in record:
        return "mgsm"
    if "question" in record and "answer" in record:
        return "gsm8k" if "####" in str(record["answer"]) else "hrm8k"
    known = "; ".join(f"{name} ({' + '.join(fields)})" for name, fields in FIELDS.items())
    raise DataError(f"cannot tell the schema of records with fields {', '.join(sorted(record)) or '(none)'}; "
                    f"kolang reads {known}")


def _number(value: Any) -> str:
    """A reference number as text: 12.0 -> "12", "1,234" -> "1234"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().replace(",", "")


def _gold(schema: str, rec: dict[str, Any]) -> Any:
    if schema == "gsm8k":
        m = _GSM8K_END.search(str(rec["answer"]))
        return _number(m.group(1)) if m else None
    if schema == "mgsm":
        return _number(rec["answer_number"])
    if schema == "math":
        if rec.get("answer") not in (None, ""):
            return str(rec["answer"]).strip()
        boxes = [s for s in find_statements(str(rec.get("solution") or "")) if s.form == "boxed"]
        return boxes[-1].answer if boxes else None
    return _number(rec["answer"]) if isinstance(rec["answer"], (int, float)) else rec["answer"]


def _level(value: Any) -> str | None:
    if value is None or value == "":
        return None
    m = _LEVEL.match(str(value))
    return m.group(1) if m else str(value)


def to_records(rows: Sequence[dict[str, Any]], schema: str = "auto", lang: str | None = None,
               source: str = "data") -> list[dict[str, Any]]:
    """`rows` as `{"prompt", "answer", "lang", "level"?, "subject"?}` records; `lang` fills a missing `lang`.

    `DataError` for an unknown schema, a record lacking a field its schema needs, or one whose reference
    answer cannot be read (a GSM8K answer without `#### N`, a MATH solution without `\\boxed{}`).
    """
    if schema not in SCHEMAS:
        raise DataError(f"unknown schema '{schema}'; use one of {', '.join(SCHEMAS)}")
    if not rows:
        raise DataError(f"{source} holds no records")
    schema = detect_schema(rows[0]) if schema == "auto" else schema
    out = []
    for n, rec in enumerate(rows, 1):
        lacking = [f for f in FIELDS[schema] if f not in rec or rec[f] is None]
        if lacking:
            raise DataError(f"{source}: record {n} lacks {', '.join(repr(f) for f in lacking)} "
                            f"(schema {schema}: {', '.join(FIELDS[schema])}); pick another --schema")
        gold = _gold(schema, rec)
        if gold is None or str(gold).strip() == "":
            raise DataError(f"{source}: record {n} has no reference answer kolang can read (schema {schema})")
        prompt = rec["prompt"] if schema == "kolang" else rec["problem" if schema == "math" else "question"]
        r: dict[str, Any] = {"prompt": prompt, "answer": str(gold), "lang": rec.get("lang") or lang}
        level = _level(rec.get("level"))
        subject = rec.get("subject") or rec.get("type") or rec.get("category")
        if level is not None:
            r["level"] = level
        if subject:
            r["subject"] = str(subject)
        out.append(r)
    return out
