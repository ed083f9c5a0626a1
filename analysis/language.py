"""Language identification of reasoning text: what share of its letters a language writes.

A model that "reasons in Korean" still writes equations, code, LaTeX, numbers and markdown; those
say nothing about the language it reasons in, so they are stripped before letters are counted
(the language-consistency reward of DeepSeek-R1, arXiv:2501.12948 §2.3.4, counts target-language
words in the chain of thought; counting letters by Unicode script is the tokenizer-free version).

Two paths, chosen per target (`language_path`). A target whose scripts no other language writes
(ko: Hangul) is measured by script alone, the fast path. A target that shares its script (fr or en
in Latin, uk or ru in Cyrillic, zh or ja in Han) is measured sentence by sentence: the letters of
a shared script count for the target when a language identifier (`langid.identify`) names the
target for that sentence's words, among the languages that write the script. Kana needs no model
(only Japanese writes it), and Han letters beside kana are Japanese.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kolang.analysis.langid import BACKEND, identify
from kolang.errors import ConfigError

SCRIPTS = ("hangul", "latin", "han", "kana", "cyrillic", "other")

# Language code -> the scripts whose letters count as that language. One table; a script name is
# accepted as a target too. Japanese writes kanji, so "ja" counts han as well as kana.
LANGUAGE_SCRIPTS: dict[str, tuple[str, ...]] = {
    "ko": ("hangul",),
    "en": ("latin",), "fr": ("latin",), "de": ("latin",), "es": ("latin",), "it": ("latin",),
    "pt": ("latin",), "nl": ("latin",), "vi": ("latin",), "id": ("latin",), "tr": ("latin",),
    "pl": ("latin",), "sv": ("latin",),
    "zh": ("han",),
    "ja": ("kana", "han"),
    "ru": ("cyrillic",), "uk": ("cyrillic",), "bg": ("cyrillic",), "sr": ("cyrillic",),
}

# (first, last, script) code-point ranges; anything else alphabetic is "other".
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "latin"), (0x1E00, 0x1EFF, "latin"), (0xFF21, 0xFF5A, "latin"),
    (0x0400, 0x052F, "cyrillic"), (0x1C80, 0x1C8F, "cyrillic"),
    (0x1100, 0x11FF, "hangul"), (0x3130, 0x318F, "hangul"), (0xA960, 0xA97F, "hangul"),
    (0xAC00, 0xD7A3, "hangul"), (0xD7B0, 0xD7FF, "hangul"), (0xFFA0, 0xFFDC, "hangul"),
    (0x3040, 0x30FF, "kana"), (0x31F0, 0x31FF, "kana"), (0xFF66, 0xFF9F, "kana"),
    (0x3400, 0x4DBF, "han"), (0x4E00, 0x9FFF, "han"), (0xF900, 0xFAFF, "han"), (0x20000, 0x2FA1F, "han"),
)


@functools.cache  # a text has few distinct characters; rewards look them up on every completion
def script_of(ch: str) -> str | None:
    """The script of one character, or None when it is not a letter."""
    if not ch.isalpha():
        return None
    cp = ord(ch)
    for lo, hi, name in _RANGES:
        if lo <= cp <= hi:
            return name
    return "other"


# --- stripping ---------------------------------------------------------------------------------

# Markup a reader never sees: HTML comments (an unclosed one hides the rest), the bodies of script,
# style and template elements, elements hidden by an attribute or inline style, and markdown link
# reference definitions (`[//]: # (note)` is the usual markdown comment).
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_NONRENDERED = re.compile(r"<(script|style|template|noscript)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.S | re.I)
_OPEN_TAG = re.compile(r"<([A-Za-z][\w-]*)(\s[^<>]*)>")
_HIDING = re.compile(r"(?:^|\s)hidden(?=[\s=/]|$)|display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)"
                     r"|(?<![\w-])(?:font-size|(?:max-)?(?:height|width)|opacity)\s*:\s*0(?:\.0*)?(?![.\d])"
                     r"|color\s*:\s*transparent|transform\s*:\s*scale\(\s*0(?:\.0*)?\s*[,)]|clip\s*:\s*rect\(\s*0"
                     r"|(?<![\w-])(?:left|top|text-indent|margin-left)\s*:\s*-\d{3,}", re.I)  # offscreen
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*(?:<[^>\n]*>|\S+)"
                        r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\)))?[ \t]*$", re.M)
# Characters that print nothing: format controls (zero-width space and joiners, bidi marks, BOM,
# tag characters), variation selectors, and the Hangul fillers, which are letters to Unicode.
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]")


def _element_end(text: str, m: re.Match) -> int:
    """Where the element opened by tag `m` ends: past its closing tag (same-name tags nest), past the tag
    for a void or self-closing one, or at the end of the text when it is never closed (as a browser does)."""
    if m.group(0).endswith("/>") or m.group(1).lower() in _VOID:
        return m.end()
    depth = 1
    for t in re.compile(rf"<(/?){re.escape(m.group(1))}\b[^<>]*>", re.I).finditer(text, m.end()):
        depth += -1 if t.group(1) else (0 if t.group(0).endswith("/>") else 1)
        if depth == 0:
            return t.end()
    return len(text)


def _drop_hidden_elements(text: str) -> str:
    """Remove every element whose attributes hide it, with its content."""
    start = 0
    while (m := _OPEN_TAG.search(text, start)) is not None:
        if _HIDING.search(m.group(2)):
            text = text[: m.start()] + " " + text[_element_end(text, m):]
            start = m.start()
        else:
            start = m.end()
    return text


def strip_unrendered(text: str) -> str:
    """Remove what a rendered completion does not show: HTML comments, hidden elements, script and style
    bodies, markdown reference definitions and invisible characters (which are dropped without a gap)."""
    text = _INVISIBLE.sub("", text)
    if "<" in text:
        text = _COMMENT.sub(" ", text)
        text = _NONRENDERED.sub(" ", text)
        text = _drop_hidden_elements(text)
    return _REFERENCE.sub(" ", text) if "]:" in text else text


_FENCED = re.compile(r"(```|~~~).*?(?:\1|\Z)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_ENV = re.compile(r"\\begin\{([^}]*)\}.*?\\end\{\1\}", re.S)
_DISPLAY = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)", re.S)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\s)[^$\n]+?(?<![\s\\])\$")
_HTML = re.compile(r"</?[A-Za-z][^<>\n]*>")
_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+", re.I)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_COMMAND = re.compile(r"\\[A-Za-z]+\*?")
# A bare equation such as "x + 2y = 10" or "3 × 4 = 12": operands are numbers or single letters
# (variables), joined by at least one operator. Multi-letter words never match, so "well-known" stays.
_OPERAND = r"\(?(?:\d+(?:[.,]\d+)?[A-Za-z]?|(?<![A-Za-z])[A-Za-z])(?![A-Za-z])\)?"
_EQUATION = re.compile(rf"{_OPERAND}(?:\s*[=<>≤≥≠±×÷+\-*/^]\s*{_OPERAND})+")
_SPACES = re.compile(r"\s+")


def _drop_braced(text: str, command: str) -> str:
    """Remove every `\\command{...}` with its (possibly nested) braced argument."""
    out, i, key = [], 0, "\\" + command
    while True:
        j = text.find(key, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        k = j + len(key)
        while k < len(text) and text[k].isspace():
            k += 1
        if k >= len(text) or text[k] != "{":
            i = k
            continue
        depth = 0
        while k < len(text):
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            k += 1
            if depth == 0:
                break
        i = k


class _LettersAndMarks(dict):
    """A `str.translate` table keeping letters and combining marks and mapping anything else to a
    space, filled as characters are met (a dict lookup a character instead of a Python call)."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        self[cp] = out = ch if unicodedata.category(ch)[0] in "LM" else " "
        return out


_LETTERS_AND_MARKS = _LettersAndMarks()


def _drop_markup(text: str) -> str:
    """`text` without what is not prose (unrendered markup, code, math, markdown syntax, URLs, equations);
    punctuation and digits are still there."""
    text = unicodedata.normalize("NFC", strip_unrendered(text))
    text = _FENCED.sub(" ", text)
    text = _INLINE_CODE.sub(" ", text)
    text = _drop_braced(text, "boxed")
    text = _ENV.sub(" ", text)
    text = _DISPLAY.sub(" ", text)
    text = _INLINE_MATH.sub(" ", text)
    text = _IMAGE.sub(" ", text)
    text = _LINK.sub(r" \1 ", text)
    text = _URL.sub(" ", text)
    text = _HTML.sub(" ", text)
    text = _COMMAND.sub(" ", text)
    return _EQUATION.sub(" ", text)


def _words(text: str) -> str:
    # Keep letters and combining marks (Devanagari vowel signs, etc.); everything else — digits,
    # punctuation, markdown's # * _ | > -, symbols — becomes a space.
    return _SPACES.sub(" ", text.translate(_LETTERS_AND_MARKS)).strip()


def strip_nonlinguistic(text: str) -> str:
    """Remove code, LaTeX math, markdown syntax, URLs, digits, symbols and punctuation.

    What remains is words separated by single spaces; link text is kept, link targets are not. What a
    reader never sees goes first (`strip_unrendered`), and Hangul written as separate jamo is composed.
    """
    return _words(_drop_markup(text))


# Where one sentence or clause ends: a language identifier reads each piece on its own, so a line that
# switches language at a comma ("Donc on additionne, which gives twelve") is measured piece by piece. A
# piece of fewer than `_MIN_PIECE` letters ("Отже,", "Hmm,") is read with the next: alone, one word is a
# guess (the Ukrainian "Отже" alone reads as Russian).
_PIECE_END = re.compile(r"[.!?;:,…。！？；：，、\n]+")
_MIN_PIECE = 8


def sentences(text: str) -> list[str]:
    """The words of each sentence or clause of `text` (as `strip_nonlinguistic` leaves them), a piece shorter
    than a few letters joined to the next one; empty ones left out."""
    out, short = [], ""
    for piece in _PIECE_END.split(_drop_markup(text)):
        words = (short + " " + _words(piece)).strip()
        if len(words) - words.count(" ") < _MIN_PIECE:
            short = words
        elif words:
            out.append(words)
            short = ""
    if short and out:  # a short last piece is read with the one before
        out[-1] += " " + short
    elif short:
        out.append(short)
    return out


# --- counting ----------------------------------------------------------------------------------


def script_counts(text: str, strip: bool = False) -> dict[str, int]:
    """Letters of `text` by script (hangul, latin, han, kana, cyrillic, other).

    With `strip=True` the text is first passed through `strip_nonlinguistic`.
    """
    if strip:
        text = strip_nonlinguistic(text)
    counts = dict.fromkeys(SCRIPTS, 0)
    for ch, n in Counter(text).items():  # each distinct character once: rewards call this on every completion
        s = script_of(ch)
        if s is not None:
            counts[s] += n
    return counts


def target_scripts(target: str) -> tuple[str, ...]:
    """The scripts of a language code (`ko`, `en`, `ja`, …) or a script name (`hangul`)."""
    t = target.lower().split("-")[0].split("_")[0]
    if t in LANGUAGE_SCRIPTS:
        return LANGUAGE_SCRIPTS[t]
    if target.lower() in SCRIPTS:
        return (target.lower(),)
    raise ConfigError(
        f"unknown target language '{target}'; use one of {', '.join(sorted(LANGUAGE_SCRIPTS))} "
        f"or a script name ({', '.join(SCRIPTS)})"
    )


def script_share(counts: dict[str, int], scripts: Iterable[str]) -> float | None:
    """Share of the counted letters that belong to `scripts`; None when there are no letters."""
    total = sum(counts.values())
    if total == 0:
        return None
    return sum(counts.get(s, 0) for s in scripts) / total


# Scripts more than one language of the table writes, and those languages (a language identifier
# chooses among them); a script only one language writes names it.
SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    s: tuple(sorted(lang for lang, scripts in LANGUAGE_SCRIPTS.items() if s in scripts)) for s in SCRIPTS}
SHARED_SCRIPTS = frozenset(s for s, langs in SCRIPT_LANGUAGES.items() if len(langs) > 1)


def _language(target: str) -> str | None:
    """The language code of a target ("fr-FR" -> "fr"), or None for a script name."""
    t = target.lower().split("-")[0].split("_")[0]
    return t if t in LANGUAGE_SCRIPTS else None


def language_path(target: str) -> str:
    """How the share of `target` is measured: "script" (letters by script) or the language identifier's
    name (`langid.BACKEND`) when another language writes one of its scripts."""
    scripts = target_scripts(target)
    return BACKEND if _language(target) and SHARED_SCRIPTS.intersection(scripts) else "script"


def language_pieces(text: str, target: str) -> list[str]:
    """The words of `text` in the pieces its `target` share is measured on: all of them as one piece on
    the script path, one piece a sentence or clause on the identifier's."""
    if language_path(target) == "script":
        words = strip_nonlinguistic(text)
        return [words] if words else []
    return sentences(text)


def _in_script(words: str, script: str) -> str:
    return " ".join(w for w in words.split() if script_of(w[0]) == script)


def target_letters(pieces: Sequence[str], target: str) -> tuple[int, int]:
    """(letters counted as `target`, all letters) of pieces of words from `language_pieces`."""
    scripts = target_scripts(target)
    lang = _language(target)
    hit = total = 0
    for words in pieces:
        counts = script_counts(words)
        total += sum(counts.values())
        for s in scripts:
            n = counts.get(s, 0)
            if not n:
                continue
            if lang is None or s not in SHARED_SCRIPTS:
                hit += n
                continue
            if s == "han" and counts["kana"]:
                owner = "ja"  # Chinese never writes kana: Han beside kana is Japanese kanji
            else:
                alone = counts[s] == sum(counts.values())
                owner = identify(words if alone else _in_script(words, s), SCRIPT_LANGUAGES[s])
            hit += n if owner == lang else 0
    return hit, total


@dataclass(frozen=True)
class LanguageShare:
    """The target-language share of a text and how it was measured."""

    share: float | None
    """Share of the letters counted as the target, in [0, 1]; None when no letters remain."""
    path: str
    """"script" or the language identifier's name (`language_path`)."""
    letters: int
    """Letters measured."""


def language_share(text: str, target: str = "ko") -> LanguageShare:
    """The share of the letters of `text` (after `strip_nonlinguistic`) that are `target`, and the path used."""
    hit, total = target_letters(language_pieces(text, target), target)
    return LanguageShare(hit / total if total else None, language_path(target), total)


def language_ratio(text: str, target: str = "ko") -> float | None:
    """Share of the letters of `text`, after `strip_nonlinguistic`, that are `target` (`language_share`).

    Returns None when no letters remain (pure math, code or empty text).
    """
    return language_share(text, target).share


def letter_count(text: str) -> int:
    """How many letters remain in `text` after `strip_nonlinguistic`."""
    return sum(script_counts(text, strip=True).values())
