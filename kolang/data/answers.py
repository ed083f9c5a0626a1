"""One grammar for answers: kolang's answer statements, `\\boxed{}`, and a careful number reader.

A completion states its answer in one of kolang's answer statements — "The answer is N." /
"답은 N입니다." as the last sentence (the form `kolang.data.tasks` writes), or looser forms inside
a sentence — or in a `\\boxed{}`. The last statement that states something is the final answer;
without one, the last sentence holding a number is read, by the same rules ("so 5 + 7 = 12" answers,
"5 and 7 make 12" offers three numbers and does not). The task generator, the evaluation, the rewards
and the collapse monitor all read answers here, so they never disagree on one completion.

Reading an answer gives its candidate values: one value is an answer, several are a hedge ("12 or
13", "답은 12 또는 13입니다", "maybe 4, maybe 5", "12~13개") or a list ("1, 2", "1 2"), none is no
answer. Repeating one value is fine, and a rejected one is left out ("12, not 13", "13이 아니라 12").
Commas must be thousands separators (1,234 · 12,345,678): "3,5", "12,34" and "1,2345" are
malformed (a list, or a European decimal), so none of them is 35, 3.5 or 12. Values are exact:
0.5 = 1/2 = \\frac{1}{2}, 3 1/2 = 7/2, −5 = minus 5, 12만 = 120000; units, counters and currency
around a number do not count (12개, 12원, $12, 12 apples, 12%, 12m); an equation gives its right-hand
side (x = 12). An expression (2\\sqrt{3}, 2x, 3 - 5) is one value, left to math-verify.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

Value = Fraction | str
"""A candidate answer: an exact number, or a math expression (cleaned LaTeX) for math-verify."""

# --- statements -----------------------------------------------------------------------------------

# An answer may hold dots only inside numbers ("3.5"); it ends at the sentence's full stop.
_ANS = r"(?P<ans>(?:[^\n.]|\.(?=\d))+?)"
_LINE_END = r"[ \t]*\.?[ \t]*$"
ANSWER_LINES: dict[str, re.Pattern] = {
    "en": re.compile(rf"The answer is[ \t]+{_ANS}{_LINE_END}", re.M),
    "ko": re.compile(rf"답은[ \t]*{_ANS}[ \t]*입니다{_LINE_END}", re.M),
}
"""kolang's answer lines, one a language, as `kolang.data.tasks` ends a solution; a statement is one when
it also starts a sentence (`Statement.answer_line`), which is what the format reward asks for."""
# Looser forms anywhere in a sentence ("따라서 답은 7입니다", "The final answer is: 7"): they state
# an answer as well, but never earn the format reward. (Patterns open with a literal: fast to scan.)
_STATEMENTS = (
    ("en", re.compile(rf"(?:[Tt]he (?:final )?answer is:?|[Ff]inal [Aa]nswer:)[ \t]*{_ANS}[ \t]*(?:\.(?!\d)|$)", re.M)),
    ("ko", re.compile(rf"답은[ \t]*{_ANS}[ \t]*(?:입니다|이에요|예요|이다)\.?")),
)
_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")


@dataclass(frozen=True)
class Statement:
    """One answer statement in a completion: where it stands, its form and the answer it gives."""

    start: int
    end: int
    answer: str
    """The answer as written ("12개", "\\frac{3}{4}", "12 or 13")."""
    form: str
    """"en" or "ko" (kolang's statements) or "boxed"."""
    answer_line: bool = False
    """Whether it is kolang's answer line (`ANSWER_LINES`): it starts a sentence and ends its line."""


def _braced(text: str, open_at: int) -> int:
    """The index just past the brace that closes the one at `open_at` (braces nest), or len(text)."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    return len(text)


def unbox(text: str) -> str:
    """`text` with every `\\boxed{...}` (and `\\fbox{}`) replaced by its content; braces nest."""
    while (m := _BOX.search(text)) is not None:
        end = _braced(text, m.end() - 1)
        text = text[: m.start()] + " " + text[m.end(): end - 1] + " " + text[end:]
    return text


def _boxes(text: str) -> list[Statement]:
    """`\\boxed{}` answers; boxes in one sentence ("\\boxed{12} or \\boxed{13}") make one statement."""
    spans = []
    for m in _BOX.finditer(text):
        if spans and m.start() < spans[-1][1]:
            continue  # a box inside a box
        spans.append((m.start(), _braced(text, m.end() - 1)))
    out: list[Statement] = []
    for start, end in spans:
        last = out[-1] if out else None
        if last and not _SENTENCE_END.search(text, last.end, start):
            out[-1] = Statement(last.start, end, text[last.start:end], "boxed")
        else:
            out.append(Statement(start, end, unbox(text[start:end]).strip(), "boxed"))
    return out


def _is_answer_line(text: str, m: re.Match, form: str) -> bool:
    """Whether statement `m` is kolang's answer line: it starts a sentence and ends its line."""
    before = text[: m.start()].rstrip(" \t")
    line = ANSWER_LINES[form].match(text, m.start())
    return (not before or before[-1] in "\n.!?") and line is not None and line.start("ans") == m.start("ans")


def find_statements(text: str) -> list[Statement]:
    """Every answer statement in `text`, in order: kolang's statements and the boxes outside them."""
    found = [Statement(m.start(), m.end(), m.group("ans").strip(), form, _is_answer_line(text, m, form))
             for form, p in _STATEMENTS for m in p.finditer(text)]
    found += _boxes(text)
    found.sort(key=lambda s: (s.start, -s.end))
    out: list[Statement] = []
    for s in found:  # one statement inside another ("The answer is \boxed{7}.") is part of it
        if not out or s.start >= out[-1].end:
            out.append(s)
    return out


def final_statement(text: str) -> Statement | None:
    """The last statement that states something ("the answer is right" states nothing), or None."""
    for s in reversed(find_statements(text or "")):
        if read_values(s.answer):
            return s
    return None


def extract_answer(text: str) -> str | None:
    """The answer, as written, of the final statement of `text` (`The answer is N.`, `\\boxed{N}` …)."""
    s = final_statement(text)
    return s.answer if s else None


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Split a completion into (reasoning, answer): the reasoning is the text without its final statement."""
    s = final_statement(text)
    if s is None:
        return text, None
    return text[: s.start] + text[s.end:], s.answer


# --- reading numbers --------------------------------------------------------------------------------

_DIGITS = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "\u2212": "-", "\uff0c": ",", "\uff0e": "."})
# A numeral: digits with commas, a decimal part, a denominator. Commas are checked afterwards, so
# that "3,5" is read as one malformed numeral, not as 3 and 5.
_DIGIT_RUN = r"\d(?:[\d,]*\d)?"
_NUMERAL = re.compile(rf"(?<![\d.,])(?P<sign>[-+]?)(?P<int>{_DIGIT_RUN})(?:\.(?P<dec>\d+))?(?:/(?P<den>{_DIGIT_RUN}))?")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")
# Korean large-number units written after digits: 12만 = 120,000, 3천만 = 30,000,000,
# 1억 2000만 = 120,000,000 (not 만큼 "as much as", 조각 "piece", 천천히 "slowly").
_KO_SCALE = {"조": 10**12, "억": 10**8, "만": 10**4, "천": 10**3, "백": 10**2}
_KO_UNIT = r"(?:[천백]?(?:조(?!각)|억|만(?!큼))|천(?!천)|백)"
_KO_BIG = re.compile(rf"\d[\d,]*{_KO_UNIT}(?:[ \t]*\d[\d,]*{_KO_UNIT})*(?:[ \t]*\d+(?![\d.,]))?")
_KO_GROUP = re.compile(r"(\d[\d,]*)([조억만천백]*)")


def _integer(digits: str) -> int | None:
    """An integer written with optional thousands separators, else None (`12,34`, `3,5`)."""
    return int(digits.replace(",", "")) if _GROUPED.fullmatch(digits) else None


def _numeral(m: re.Match) -> Fraction | None:
    """The value of a `_NUMERAL` match, or None when its commas are not thousands separators."""
    whole = _integer(m.group("int"))
    if whole is None:
        return None
    dec = m.group("dec") or ""
    value = whole + Fraction(int(dec or 0), 10 ** len(dec))
    if m.group("den"):
        den = _integer(m.group("den"))
        if not den or m.group("dec"):
            return None
        value /= den
    return -value if m.group("sign") == "-" else value


def read_number(text: str) -> Fraction | None:
    """The value of one numeral ("1,234", "-3.5", "3/4", "−5", "１２"), or None if `text` is not exactly one."""
    m = _NUMERAL.fullmatch(text.strip().translate(_DIGITS))
    return _numeral(m) if m else None


def _korean_big(m: re.Match) -> str:
    """A numeral with Korean units ("1억 2000만") written out in digits, or unchanged if inconsistent."""
    total, last_unit = 0, None
    for digits, unit in _KO_GROUP.findall(m.group(0)):
        n, scale = _integer(digits), math.prod(_KO_SCALE[u] for u in unit)
        if n is None or (last_unit is not None and scale >= last_unit) or (last_unit and not unit and n >= last_unit):
            return m.group(0)
        total, last_unit = total + n * scale, scale
    return f" {total} "


# --- reading an answer ------------------------------------------------------------------------------

# LaTeX and markdown that only dress a value: what they wrap is read.
_WRAPPERS = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([-+]?[\d.,]+)\s*\}\s*\{\s*([\d.,]+)\s*\}")
_SPACING = re.compile(r"\\[,;:! ]|\\q?quad\b|\\left\b|\\right\b|\*\*|__|`")
# (math-verify reads × and ÷ but not · or √, so those become LaTeX)
_LATEX_SYMBOLS = {"\\approx": "≈", "\\%": "%", "\\$": "", "$": "", "\\(": " ", "\\)": " ", "\\[": " ", "\\]": " ",
                  "{,}": ",", "·": "\\cdot ", "√": "\\sqrt "}
_RANGE = re.compile(r"(?<=\d)\s*~\s*(?=[-+]?\d)")  # 12~13: a range, so two candidates
_MINUS_WORD = re.compile(r"(?:\b(?:minus|negative)|마이너스|영하)\s*(?=\d)", re.I)
_MIXED = re.compile(r"(?<![\d.,/])(\d+)\s+(\d+)/(\d+)(?![\d.,/])")  # 3 1/2 = 7/2
# What separates candidate answers ("12 or 13", "12, 13", "maybe 4, maybe 5", "12 또는 13"); "아니라"
# and "아니고" reject what comes before them ("13이 아니라 12"), "not" what follows.
_SEPARATOR = re.compile(r"\s*(?:;|,(?=\s)|\s~\s|\b(?:or|either|maybe|perhaps|possibly|probably)\b"
                        r"|또는|혹은|아니면|이거나|아마도?|(?P<neg>아니라|아니고))\s*", re.I)
_NEGATED = re.compile(r"^\s*not\b", re.I)
_JUSTIFICATION = re.compile(r"\b(?:because|since|given that|due to)\b", re.I)
_PARENTHETICAL = re.compile(r"\s\([^()]*\)")
# An expression, not a number: an operator between operands (numbers "#", single-letter variables,
# brackets), a LaTeX command left after cleaning (\sqrt, \pi), or x, y, z or n written on a number
# (2x; other letters there are units: 12m, 5kg).
_OPERAND = r"(?:#|[)}]|(?<![A-Za-z])[A-Za-z](?![A-Za-z]))"
_OPERATOR = re.compile(rf"{_OPERAND}\s*[-+*/×÷·^]\s*(?:[-+]?{_OPERAND}|[({{\\])|[√π]|\\[A-Za-z]+|#[xyzn](?![A-Za-z])")


def _mixed(m: re.Match) -> str:
    """A mixed number ("3 1/2") as one fraction, when its fraction part is proper; else unchanged."""
    whole, num, den = (int(g) for g in m.groups())
    return f"{whole * den + num}/{den}" if 0 < num < den else m.group(0)


def _clean(text: str) -> str:
    """`text` with digits made ASCII, boxes opened, LaTeX wrappers, spacing and fractions of numerals undone."""
    text = unbox(text.translate(_DIGITS))
    text = _WRAPPERS.sub(r" \1 ", text)
    text = _FRAC.sub(r"\1/\2", re.sub(r"(?<=\d)(?=\\[dt]?frac)", " ", text))  # 2\frac{1}{2}: 2 1/2
    text = re.sub(r"(?<=\d)\\,(?=\d{3}(?!\d))", ",", text)  # 1\,234: a thin space between thousands
    for latex, plain in _LATEX_SYMBOLS.items():
        text = text.replace(latex, plain)
    text = _SPACING.sub(" ", text)
    text = _RANGE.sub(" ~ ", _MINUS_WORD.sub("-", text))
    text = _MIXED.sub(_mixed, text)
    return _KO_BIG.sub(_korean_big, text).strip().rstrip(".,;:!").strip()


def _clauses(text: str) -> list[str]:
    """The candidate clauses of an answer, rejected ones ("not 13", "13이 아니라") left out."""
    out, start = [], 0
    for m in _SEPARATOR.finditer(text):
        if not m.group("neg"):
            out.append(text[start: m.start()])
        start = m.end()
    out.append(text[start:])
    return [c for c in out if c.strip() and not _NEGATED.match(c)]


def _read_clause(clause: str) -> list[Value | None]:
    """The values one clause gives: its numbers, or the clause as an expression; None is a malformed number."""
    clause = _JUSTIFICATION.split(clause, maxsplit=1)[0]
    bare = _PARENTHETICAL.sub(" ", clause)  # "12 (twelve)", "12 (5 + 7)": an aside, not the answer
    clause = bare if re.search(r"\d|\\[A-Za-z]", bare) else clause  # but "twelve (12)" answers in it
    clause = re.split(r"=|≈", clause)[-1].strip()  # "x = 12", "5 + 7 = 12": the right-hand side
    numerals = list(_NUMERAL.finditer(clause))
    masked = _NUMERAL.sub(lambda m: m.group("sign") + "#", clause)
    if _OPERATOR.search(masked):
        return [clause]
    return [_numeral(m) for m in numerals]


def read_values(answer: str) -> list[Value | None]:
    """The distinct candidate values of one answer text, in order; None stands for a malformed number.

    One value is an answer; several (or a malformed number) are a hedge or a list; none states nothing.
    """
    out: list[Value | None] = []
    for clause in _clauses(_clean(answer)):
        for v in _read_clause(clause):
            if v is None or v not in out:
                out.append(v)
    return out


def _single(values: list[Value | None]) -> Value | None:
    return values[0] if len(values) == 1 else None


# --- the final answer of a completion ---------------------------------------------------------------

_FENCED = re.compile(r"(```|~~~).*?(?:\1|\Z)", re.S)
_SENTENCES = re.compile(r"(?<=[.!?。])\s+|\n+")
_HEDGE_OPENING = re.compile(r"^\W*(?:(?:or|maybe|perhaps|possibly|alternatively)\b|또는|혹은|아니면|아마)", re.I)
_HEDGE_CLOSING = re.compile(r"(?:\b(?:or|either|maybe|perhaps)|또는|혹은|아니면|아마도?)\W*$", re.I)


def _hedges_around(text: str, s: Statement) -> str:
    """What the sentence before a statement offers along with it ("4, or the answer is 5"), and the next
    sentence when it opens with a hedge ("The answer is 4. Or maybe 5.")."""
    before = _SENTENCES.split(text[: s.start])[-1]
    after = _SENTENCES.split(text[s.end:].lstrip(), maxsplit=1)[0]
    return " ; ".join((before if _HEDGE_CLOSING.search(before) else "", after if _HEDGE_OPENING.match(after) else ""))


def _free_text_values(text: str) -> list[Value | None]:
    """Without any statement: the values of the last sentence holding a digit (code blocks left out)."""
    sentences = [s for s in _SENTENCES.split(_FENCED.sub("\n", text)) if s.strip()]
    for i in range(len(sentences) - 1, -1, -1):
        if re.search(r"\d", sentences[i].translate(_DIGITS)):
            j = i
            while j > 0 and _HEDGE_OPENING.match(sentences[j]):  # "Maybe 4. Maybe 5.": one hedge
                j -= 1
            return read_values(" ; ".join(sentences[j: i + 1]))
    return []


def answer_values(text: str, free_text: bool = True) -> list[Value | None]:
    """The candidate values a completion gives as its final answer (see `read_values`).

    From the final statement, with a following sentence that opens with a hedge ("Or maybe 5."); with
    no statement and `free_text`, from the last sentence that holds a number.
    """
    text = text or ""
    s = final_statement(text)
    if s is None:
        return _free_text_values(text) if free_text else []
    values = read_values(s.answer)
    for v in read_values(_hedges_around(text, s)):
        if v is None or v not in values:
            values.append(v)
    return values


def final_value(text: str, free_text: bool = True) -> Value | None:
    """The one value a completion states as its answer; None when it states none, several, or a malformed number."""
    return _single(answer_values(text, free_text))


def read_gold(gold: object) -> Value | None:
    """A reference answer (a dataset's `answer` column) as one value, or None when it is not one."""
    return _single(read_values(str(gold)))
