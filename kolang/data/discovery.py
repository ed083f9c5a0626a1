"""Discovery corpora as (texts, langs): `{"text", "lang"}` records, parallel `{"ko": …, "en": …}` records,
or any `datasets` corpus (FLORES-200, a Wikipedia dump) read through a column mapping, no conversion.

Kept free of torch (and of `datasets` until a source needs it), so the command line can list and
check the mapping options without importing either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
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
    for _, code, text in _texts_of(records, source, corpus, lang):
        texts.append(text)
        langs.append(code)
    if not texts:
        raise DataError(f"{source} holds no non-empty texts")
    return texts, langs


def _parallel(rec: dict, corpus: CorpusConfig, lang: str | None) -> bool:
    """Whether a record holds one text a language under language-code keys ({"ko": …, "en": …}) rather than one
    {text, lang} text: no columns are named, the source has no language of its own, and it has neither key."""
    return corpus.columns(lang) is None and "text" not in rec and "lang" not in rec


def _texts_of(records: Sequence[dict], source: str, corpus: CorpusConfig,
              lang: str | None) -> Iterator[tuple[int, str, str]]:
    """(record number from 1, language, text) of every non-blank text of `records` (see `records_to_texts`)."""
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
        elif not _parallel(rec, corpus, lang):
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
                yield n, code, text


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
    texts: list[str] = []
    langs: list[str] = []
    for lang, path, records in _sources(data, corpus, max_texts):
        more_texts, more_langs = records_to_texts(records, str(path), corpus, lang)
        texts += more_texts
        langs += more_langs
    return texts, langs


def load_with_contexts(data: str | Path | Sequence[str | Path], context_field: str,
                       corpus: CorpusConfig = CorpusConfig(),
                       max_texts: int | None = None) -> tuple[list[str], list[str], list[str]]:
    """(texts, langs, contexts) of discovery sources whose records each hold one text and, in `context_field`,
    what precedes it (a question before its solution), so that the text can be scored after its context."""
    if corpus.pair_fields:
        raise DataError(f"--context-field '{context_field}' needs one text a record, not parallel --pair-fields")
    texts: list[str] = []
    langs: list[str] = []
    contexts: list[str] = []
    for lang, path, records in _sources(data, corpus, max_texts, context_field):
        found = 0
        for n, code, text in _texts_of(records, str(path), corpus, lang):
            rec = records[n - 1]
            if _parallel(rec, corpus, lang):
                raise DataError(f"{path}: record {n} is parallel (one text a language); --context-field needs "
                                "{text, lang} records or a LANG=PATH source")
            context = rec.get(context_field)
            if not isinstance(context, str):
                raise DataError(f"{path}: record {n} needs a string '{context_field}' field (the context its text "
                                f"is scored after), not {type(context).__name__}")
            texts.append(text)
            langs.append(code)
            contexts.append(context)
            found += 1
        if not found:
            raise DataError(f"{path} holds no non-empty texts")
    return texts, langs, contexts


def _sources(data: str | Path | Sequence[str | Path], corpus: CorpusConfig, max_texts: int | None,
             *extra: str) -> Iterator[tuple[str | None, Path, list[dict]]]:
    """(language or None, path, records) of each `--data` item, reading only the columns needed (and `extra`)."""
    for item in [data] if isinstance(data, (str, Path)) else list(data):
        lang, path = split_source(item)
        columns = corpus.columns(lang)
        records = read_records(path, columns=None if columns is None else [*columns, *extra],
                               limit=max_texts if lang is not None else None)
        yield lang, path, records


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
