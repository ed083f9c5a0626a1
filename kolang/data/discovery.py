"""Discovery corpora as (texts, langs): `{"text", "lang"}` records, parallel `{"ko": …, "en": …}` records,
or any `datasets` corpus (FLORES-200, a Wikipedia dump) read through a column mapping, no conversion.

Kept free of torch (and of `datasets` until a source needs it), so the command line can list and
check the mapping options without importing either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kolang.data.io import read_records
from kolang.errors import ConfigError, DataError

_LANG_CODE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$")


@dataclass(frozen=True)
class CorpusConfig:
    """Which columns of a discovery corpus hold its texts and their languages."""

    text_field: str | None = None
    """Column holding the text, where each record is one text and its language (default: text)."""
    lang_field: str | None = None
    """Column holding each record's language code (default: lang); a --data LANG=PATH source needs none."""
    pair_fields: str | None = None
    """Parallel columns, one language each, comma-separated: ko,en, or LANG=COLUMN items such as
    ko=sentence_kor_Hang,en=sentence_eng_Latn (FLORES-200)."""

    def __post_init__(self) -> None:
        if self.pair_fields is not None:
            if self.text_field or self.lang_field:
                raise ConfigError("give --pair-fields (parallel columns) or --text-field/--lang-field, not both")
            pairs = self.pairs()
            if len(pairs) < 2:
                raise ConfigError(f"--pair-fields needs two or more columns, e.g. ko,en; got '{self.pair_fields}'")

    def pairs(self) -> dict[str, str]:
        """`pair_fields` as {language: column}."""
        out: dict[str, str] = {}
        for item in (self.pair_fields or "").split(","):
            lang, eq, column = (part.strip() for part in item.partition("="))
            column = column if eq else lang
            if not lang or not column or not _LANG_CODE.match(lang):
                raise ConfigError(f"--pair-fields: '{item.strip()}' is not LANG or LANG=COLUMN with a language code "
                                  "such as ko or en")
            if lang in out:
                raise ConfigError(f"--pair-fields names language '{lang}' twice")
            out[lang] = column
        return out

    def columns(self, lang: str | None = None) -> list[str] | None:
        """The columns to read from a source (of language `lang`, when a `LANG=PATH` source), or None for every one."""
        if lang is not None:
            if self.pair_fields:
                raise ConfigError(f"a --data {lang}=PATH source holds one language; --pair-fields is for parallel "
                                  "columns")
            return [self.text_field or "text"]
        if self.pair_fields:
            return list(self.pairs().values())
        if self.text_field or self.lang_field:
            return [self.text_field or "text", self.lang_field or "lang"]
        return None


def records_to_texts(records: Sequence[dict], source: str = "data", corpus: CorpusConfig = CorpusConfig(),
                     lang: str | None = None) -> tuple[list[str], list[str]]:
    """Flatten discovery records into parallel lists of texts and language codes.

    Without a mapping a record is `{"text": …, "lang": …}` or parallel, one language code per key
    (`{"ko": …, "en": …}`; other keys such as `id` are ignored); `corpus` names other columns, and
    `lang` gives every record's language (a one-language source). Blank texts are dropped.
    """
    texts: list[str] = []
    langs: list[str] = []
    mapped = corpus.columns(lang) is not None
    text_col, lang_col = corpus.text_field or "text", corpus.lang_field or "lang"

    def text_of(rec: dict, column: str, n: int) -> str:
        if not isinstance(rec.get(column), str):
            raise DataError(f"{source}: record {n} needs a string '{column}' field (a text), not "
                            f"{type(rec.get(column)).__name__}")
        return rec[column]

    for n, rec in enumerate(records, 1):
        if lang is not None:
            pairs = [(lang, text_of(rec, text_col, n))]
        elif corpus.pair_fields:
            pairs = [(code, text_of(rec, column, n)) for code, column in corpus.pairs().items()]
        elif mapped or "text" in rec or "lang" in rec:
            if not isinstance(rec.get(lang_col), str):
                raise DataError(f"{source}: record {n} needs a string '{lang_col}' field (its language code)")
            pairs = [(rec[lang_col], text_of(rec, text_col, n))]
        else:
            pairs = [(k, v) for k, v in rec.items() if isinstance(v, str) and _LANG_CODE.match(k)]
            if not pairs:
                raise DataError(
                    f"{source}: record {n} has neither 'text'/'lang' nor language-code keys like 'ko', 'en'; "
                    "name its columns with --text-field/--lang-field or --pair-fields"
                )
        for code, text in pairs:
            if text.strip():
                texts.append(text)
                langs.append(code)
    if not texts:
        raise DataError(f"{source} holds no non-empty texts")
    return texts, langs


def split_source(item: str | Path) -> tuple[str | None, Path]:
    """`(lang, path)` of a `--data` item: `ko=wiki_ko/` is a one-language source, a plain path carries its own."""
    text = str(item)
    lang, eq, path = text.partition("=")
    if eq and path and _LANG_CODE.match(lang) and not Path(text).exists():
        return lang, Path(path)
    return None, Path(text)


def load_discovery(data: str | Path | Sequence[str | Path], corpus: CorpusConfig = CorpusConfig(),
                   max_texts: int | None = None) -> tuple[list[str], list[str]]:
    """Read one or more discovery sources into (texts, langs), each a file or folder (see `read_records`),
    written `LANG=PATH` when all its texts are in language LANG; a one-language source is read only
    up to its first `max_texts` records. See `records_to_texts` for the accepted shapes."""
    items = [data] if isinstance(data, (str, Path)) else list(data)
    texts: list[str] = []
    langs: list[str] = []
    for item in items:
        lang, path = split_source(item)
        records = read_records(path, columns=corpus.columns(lang), limit=max_texts if lang is not None else None)
        more_texts, more_langs = records_to_texts(records, str(path), corpus, lang)
        texts += more_texts
        langs += more_langs
    return texts, langs


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
