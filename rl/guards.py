"""Guards of the language reward: text that would score without being reasoning in the language.

A reward that counts target-language letters pays for repetition — of a word, a phrase, one
syllable block or bare jamo, at any length (`degenerate`) — and for text copied from the prompt,
which is in the question's language whatever language the model reasons in (`drop_copied`). Both
run on every completion of every GRPO step, so each is linear in the text.
"""

from __future__ import annotations

import functools
import operator
import re
import zlib
from collections import Counter
from dataclasses import dataclass

from kolang.analysis.language import script_of, strip_nonlinguistic


@dataclass(frozen=True)
class Guards:
    """Bounds past which a text counts as degenerate repetition."""

    min_distinct: float = 0.3
    """Least share of distinct words (texts of 8 words or more) and of distinct letters (see below)."""
    max_top_share: float = 0.5
    """Most share of the words that one word may take (texts of 8 words or more)."""
    ngram: int = 3
    """Length of the word n-grams of the n-gram guard."""
    max_ngram_share: float = 0.6
    """Most share of the words that one repeated n-gram may cover."""
    min_compression: float = 0.12
    """Least zlib-compressed / raw size of texts of 256 bytes or more."""
    min_distinct_letters: int = 8
    """Distinct letters a text needs; a short text needs `min_distinct` of its letters, if that is fewer."""
    max_repeat: float = 0.5
    """Most share of the letters of a text under 8 words, or of one word, that may equal the letter one
    period before (periods up to 64 letters giving three copies): one unit ("가", "정말 좋아요") repeated."""
    max_jamo_share: float = 0.5
    """Most share of the Hangul letters that may be bare jamo (ㅋㅋㅋ, ㅎㅎ) rather than syllable blocks."""


_JAMO = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff\uffa0-\uffdc]")
_SYLLABLE = re.compile("[\uac00-\ud7a3]")
_MAX_PERIOD = 64


def repeat_share(letters: str) -> float:
    """The largest share of letters equal to the letter one period back, over periods giving 3+ copies."""
    n = len(letters)
    periods = range(1, min(_MAX_PERIOD, n // 3) + 1)
    return max((sum(map(operator.eq, letters, letters[p:])) / (n - p) for p in periods), default=0.0)


def degenerate(text: str, raw: str, guards: Guards = Guards()) -> str | None:
    """Why a text is degenerate repetition (a short reason), or None when it is not.

    `text` is what is counted (words after `strip_nonlinguistic`), `raw` the text it came from. The
    letter-level guards work at any length; the word guards need 8 words, the zlib one 256 bytes.
    """
    g = guards
    letters = text.replace(" ", "")
    n = len(letters)
    if n:
        jamo = len(_JAMO.findall(letters)) if _JAMO.search(letters) else 0
        if jamo and jamo / (jamo + len(_SYLLABLE.findall(letters))) > g.max_jamo_share:
            return "bare jamo, not syllables"
        if len(set(letters)) < min(g.min_distinct_letters, g.min_distinct * n):
            return "few distinct letters"
    words = text.split()
    w = len(words)
    if w < 8 and repeat_share(letters) > g.max_repeat:  # past 8 words, the word guards below see it
        return "one short unit repeated"
    if w >= 8:
        if len(set(words)) / w < g.min_distinct:
            return "low distinct-word ratio"
        if Counter(words).most_common(1)[0][1] / w > g.max_top_share:
            return "one word dominates"
        if w >= 3 * g.ngram:
            grams = Counter(tuple(words[i: i + g.ngram]) for i in range(w - g.ngram + 1))
            if grams.most_common(1)[0][1] * g.ngram / w > g.max_ngram_share:
                return "one n-gram dominates"
    data = raw.encode("utf-8")
    if len(data) >= 256 and len(zlib.compress(data, 9)) / len(data) < g.min_compression:
        return "compresses too well"
    return None


def drop_repeated_words(text: str, guards: Guards = Guards()) -> str:
    """`text` without the words that repeat one unit three times or more ("가가가가", "한국어한국어한국어").

    They say nothing whatever their script, and the word guards cannot see inside a word.
    """
    def repeated(word: str) -> bool:
        # A unit repeated with under half the letters differing has under 2/3 distinct letters.
        return len(word) >= 6 and 3 * len(set(word)) < 2 * len(word) and repeat_share(word) > guards.max_repeat

    words = text.split()
    return " ".join(w for w in words if not repeated(w)) if any(map(repeated, words)) else text


# --- text copied from the prompt ------------------------------------------------------------------

_SYLLABIC = ("hangul", "han", "kana")  # scripts whose one letter writes a syllable


@functools.lru_cache(maxsize=4096)
def _prompt_grams(prompt: str, syllables: int, letters: int) -> tuple[frozenset[str], frozenset[str]]:
    """The prompt's runs of `syllables` syllabic letters, and of `letters` letters not all syllabic (a
    syllabic run that long holds a shorter one)."""
    s = strip_nonlinguistic(prompt).replace(" ", "")
    s = s.lower() if len(s.lower()) == len(s) else s
    syllabic = [script_of(c) in _SYLLABIC for c in s]
    short = frozenset(s[i: i + syllables] for i in range(len(s) - syllables + 1) if all(syllabic[i: i + syllables]))
    long = frozenset(s[i: i + letters] for i in range(len(s) - letters + 1) if not all(syllabic[i: i + letters]))
    return short, long


def drop_copied(text: str, prompt: str, syllables: int = 4, letters: int = 12, gap: int = 3,
                min_span: int = 8) -> str:
    """`text` (as `strip_nonlinguistic` leaves it) without the long spans it copies from `prompt`.

    Letters are compared with spaces, digits and punctuation left out. A copied piece is a run of at
    least `syllables` Hangul/Han/kana letters, or of `letters` letters of any script (an alphabet's
    letter carries less than a syllable), found in the prompt; pieces at most `gap` letters apart
    join into one span, so a copy with trivial edits (a particle, an ending, a word) is one span.
    Spans shorter than `min_span` letters stay: genuine reasoning repeats names, items and short
    phrases of the question.
    """
    short, long = _prompt_grams(prompt, syllables, letters)
    s = text.replace(" ", "")
    if len(s.lower()) == len(s):  # a change of case is a trivial edit (unless lowering changes lengths)
        s = s.lower()
    pieces = sorted((j, j + k) for k, grams in ((syllables, short), (letters, long)) if grams
                    for j in range(len(s) - k + 1) if s[j: j + k] in grams)
    spans: list[list[int]] = []  # [start, end) in letters of `s`
    for start, end in pieces:
        if spans and start <= spans[-1][1] + gap:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    spans = [sp for sp in spans if sp[1] - sp[0] >= min_span]
    if not spans:
        return text
    where = [i for i, c in enumerate(text) if c != " "]  # letter j of `s` is text[where[j]]
    out = list(text)
    for start, end in spans:
        for j in range(start, end):
            out[where[j]] = " "
    return " ".join("".join(out).split())
