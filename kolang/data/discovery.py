"""Discovery corpora: `{"text", "lang"}` lines or parallel `{"ko": …, "en": …}` lines, as (texts, langs)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from kolang.data.io import read_records
from kolang.errors import DataError

_LANG_CODE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$")


def records_to_texts(records: Sequence[dict], source: str = "data") -> tuple[list[str], list[str]]:
    """Flatten discovery records into parallel lists of texts and language codes.

    A record is either `{"text": …, "lang": …}` or parallel, one language code per key
    (`{"ko": …, "en": …}`; other keys such as `id` are ignored). Blank texts are dropped.
    """
    texts: list[str] = []
    langs: list[str] = []
    for n, rec in enumerate(records, 1):
        if "text" in rec or "lang" in rec:
            if not isinstance(rec.get("text"), str) or not isinstance(rec.get("lang"), str):
                raise DataError(f"{source}: record {n} needs string fields 'text' and 'lang'")
            pairs = [(rec["lang"], rec["text"])]
        else:
            pairs = [(k, v) for k, v in rec.items() if isinstance(v, str) and _LANG_CODE.match(k)]
            if not pairs:
                raise DataError(
                    f"{source}: record {n} has neither 'text'/'lang' nor language-code keys like 'ko', 'en'"
                )
        for lang, text in pairs:
            if text.strip():
                texts.append(text)
                langs.append(lang)
    if not texts:
        raise DataError(f"{source} holds no non-empty texts")
    return texts, langs


def load_discovery(path: str | Path) -> tuple[list[str], list[str]]:
    """Read a discovery file into (texts, langs); see `records_to_texts` for the accepted shapes."""
    return records_to_texts(read_records(path), source=str(path))


def require_languages(langs: Sequence[str], target: str, reference: Sequence[str]) -> None:
    """Raise `DataError` unless the corpus has texts in the target and every reference language."""
    present = set(langs)
    if len(present) < 2:
        raise DataError(
            f"the data holds one language only ({', '.join(sorted(present))}); discovery needs the target "
            "and at least one reference language"
        )
    for lang in [target, *reference]:
        if lang not in present:
            raise DataError(f"no texts in language '{lang}' (the data has {', '.join(sorted(present))})")
