"""Seeded arithmetic word problems with parallel Korean and English text and step-by-step solutions.

Each problem is built from parts (an opening that sets a count, one sentence per further step, a
question), each part with several phrasings; the same phrasing index is used in both languages so
the two texts say the same thing. Solutions are one sentence a step plus a fixed answer line, so an
answer can be read back from any completion with `extract_answer`.

Levels: 1 one step with small numbers; 2 one step adding to or subtracting from a two-digit
number, or a times-table product; 3 two add/subtract steps on a two-digit number; 4 a product and
then an addition or subtraction, the product a times-table one in half the problems and a
three-digit by two-digit one in the other half (`HARD_PRODUCT`). Other second operands stay
single-digit, so the bundled model organism learns levels 1-3 and the first half of level 4 fully
within a few CPU minutes; the three-digit products, written in one step with no partial products,
are beyond it, so its level-4 accuracy at convergence is about one half, set by the task rather
than by how far training got.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from kolang.data.answers import final_value
from kolang.data.io import write_jsonl
from kolang.data.korean import attach, count_phrase
from kolang.errors import ConfigError

LANGS = ("ko", "en")
LEVELS = (1, 2, 3, 4)
OPS = ("add", "sub", "mul")
# Operand ranges of level 4's hard products: 81,000 of them, each answered in one step (no partial products).
# A 64-wide organism sees a few thousand in training and cannot compute them; a times-table product it can.
HARD_PRODUCT = ((100, 999), (11, 99))

# (Korean name, English name)
NAMES = (("민수", "Minsu"), ("지훈", "Jihun"), ("서연", "Seoyeon"), ("하준", "Hajun"), ("유나", "Yuna"),
         ("도윤", "Doyun"), ("수빈", "Subin"), ("은지", "Eunji"), ("준호", "Junho"), ("지민", "Jimin"))
# (Korean noun, its counter, English plural)
ITEMS = (("사과", "개", "apples"), ("연필", "자루", "pencils"), ("책", "권", "books"),
         ("고양이", "마리", "cats"), ("스티커", "장", "stickers"), ("자동차", "대", "cars"),
         ("꽃", "송이", "flowers"), ("쿠키", "개", "cookies"), ("구슬", "개", "marbles"),
         ("물고기", "마리", "fish"), ("공책", "권", "notebooks"), ("카드", "장", "cards"))


@dataclass(frozen=True)
class Problem:
    """One word problem in both languages, with its solution steps and answer."""

    id: str
    """Stable id: the level and a hash of the question text."""
    level: int
    """Difficulty 1..4."""
    question: dict[str, str]
    """Question text by language ("ko", "en")."""
    steps: dict[str, list[str]]
    """Solution sentences by language, one a step, the last being the answer line."""
    ops: tuple[tuple[str, int, int, int], ...]
    """(op, a, b, result) for each step, op in "add", "sub", "mul"."""
    answer: int
    """The final integer answer."""

    def solution(self, lang: str) -> str:
        """The solution in `lang`: the step sentences joined by spaces."""
        return " ".join(self.steps[lang])


def has_hard_product(p: Problem) -> bool:
    """True for a level-4 problem whose product is one of `HARD_PRODUCT`'s (the half beyond the organism)."""
    op, a, b, _ = p.ops[0]
    return p.level == 4 and op == "mul" and a >= HARD_PRODUCT[0][0] and b >= HARD_PRODUCT[1][0]


def _apply(op: str, a: int, b: int) -> int:
    return {"add": a + b, "sub": a - b, "mul": a * b}[op]


# Solution sentences: the numbers read aloud in each language ("5 plus 3 is 8", "5 더하기 3은 8입니다").
_STEP_EN = {"add": "{a} plus {b} is {r}.", "sub": "{a} minus {b} is {r}.", "mul": "{a} times {b} is {r}."}
_STEP_KO = {"add": "더하기", "sub": "빼기", "mul": "곱하기"}


def render_step(lang: str, op: str, a: int, b: int, result: int) -> str:
    """One solution sentence for `a op b = result`; `result` is written as given, right or wrong."""
    if op not in OPS:
        raise ValueError(f"unknown op '{op}'; use one of {', '.join(OPS)}")
    if lang == "en":
        return _STEP_EN[op].format(a=a, b=b, r=result)
    if lang == "ko":
        return f"{a} {_STEP_KO[op]} {attach(b, '은/는')} {result}입니다."
    raise ValueError(f"unknown language '{lang}'; use one of {', '.join(LANGS)}")


def answer_line(lang: str, n: int) -> str:
    """The fixed final line: `The answer is N.` or `답은 N입니다.`."""
    if lang == "en":
        return f"The answer is {n}."
    if lang == "ko":
        return f"답은 {n}입니다."
    raise ValueError(f"unknown language '{lang}'; use one of {', '.join(LANGS)}")


def extract_answer(text: str) -> int | None:
    """The integer the final answer statement of `text` states (`kolang.data.answers`), or None.

    None when there is no statement, when it states several values or a malformed number ("3,5"),
    or when its value is not an integer.
    """
    v = final_value(text, free_text=False)
    return int(v) if isinstance(v, Fraction) and v.denominator == 1 else None


# ---- question parts: each a list of (ko, en) phrasings with slots filled by `_fill` ----------------

_OPENING = (
    ("{N_eun} {item} {a_c_eul} 가지고 있습니다.", "{N} has {a} {items}."),
    ("{N}의 상자에 {item_i} {a_c} 있어요.", "There are {a} {items} in {N}'s box."),
    ("{N_eun} 아침에 {item} {a_c_eul} 가지고 있었습니다.", "{N} had {a} {items} in the morning."),
)
_OPENING_MUL = (
    ("{N_eun} 봉지 {a_gae_eul} 가지고 있고, 봉지마다 {item_i} {b_c}씩 들어 있습니다.",
     "{N} has {a} bags with {b} {items} in each bag."),
    ("{N_i} {item} 상자 {a_gae_eul} 샀어요. 한 상자에 {b_c}씩 들어 있어요.",
     "{N} bought {a} boxes of {items}. Each box holds {b}."),
    ("{N_i} {item_eul} 한 줄에 {b_c}씩 {a}줄로 놓았습니다.", "{N} puts the {items} in {a} rows of {b}."),
)
_ACTION = {
    "add": (("{N_i} {b_c_eul} 더 삽니다.", "{N} buys {b} more."),
            ("친구가 {N}에게 {b_c_eul} 더 줍니다.", "A friend gives {N} {b} more."),
            ("그다음 {b_c_i} 더 생겼어요.", "Then {N} gets {b} more.")),
    "sub": (("{N_i} 친구에게 {b_c_eul} 줍니다.", "{N} gives {b} to a friend."),
            ("{N_eun} {b_c_eul} 잃어버렸어요.", "{N} loses {b} of them."),
            ("그다음 누군가 {b_c_eul} 가져갔습니다.", "Then someone takes {b} away.")),
}
_QUESTION = (
    ("이제 {item_eun} 모두 몇 {c}입니까?", "How many {items} are there now?"),
    ("지금 {N}에게 {item_i} 몇 {c} 있나요?", "How many {items} does {N} have now?"),
    ("{item_eun} 모두 몇 {c_ieyo}?", "How many {items} are there in total?"),
)


def _fill(template: str, name: tuple[str, str], item: tuple[str, str, str], a: int, b: int, lang: str) -> str:
    """Fill a template's slots; Korean particles are chosen by the preceding word's final sound."""
    ko_name, en_name = name
    noun, counter, plural = item
    if lang == "en":
        return template.format(N=en_name, items=plural, a=a, b=b)
    a_c, b_c = count_phrase(a, counter), count_phrase(b, counter)
    return template.format(
        N=ko_name, N_eun=attach(ko_name, "은/는"), N_i=attach(ko_name, "이/가"),
        item=noun, item_i=attach(noun, "이/가"), item_eun=attach(noun, "은/는"),
        item_eul=attach(noun, "을/를"),
        a=a, c=counter, c_ieyo=attach(counter, "이에요/예요"),
        a_c=a_c, a_c_eul=attach(a_c, "을/를"), a_gae_eul=attach(count_phrase(a, "개"), "을/를"),
        b_c=b_c, b_c_eul=attach(b_c, "을/를"), b_c_i=attach(b_c, "이/가"),
    )


def _numbers(level: int, rng: random.Random) -> tuple[tuple[str, int, int, int], ...]:
    """Draw the steps of one problem of `level`: (op, a, b, result), each result a non-negative int."""
    steps: list[tuple[str, int, int, int]] = []

    def push(op: str, a: int, b: int) -> int:
        r = _apply(op, a, b)
        steps.append((op, a, b, r))
        return r

    if level == 1:
        if rng.random() < 0.5:
            push("add", rng.randint(2, 9), rng.randint(1, 9))
        else:
            a = rng.randint(3, 18)
            push("sub", a, rng.randint(1, min(9, a - 1)))
    elif level == 2:
        op = rng.choice(OPS)
        if op == "add":
            push("add", rng.randint(10, 89), rng.randint(2, 9))
        elif op == "sub":
            push("sub", rng.randint(11, 99), rng.randint(2, 9))
        else:
            push("mul", rng.randint(2, 9), rng.randint(2, 9))
    elif level == 3:
        x = rng.randint(10, 40)
        for _ in range(2):
            op = "add" if x < 12 else rng.choice(("add", "sub"))
            x = push(op, x, rng.randint(2, 9))
    elif level == 4:  # a product carried into one more step: half of them beyond the organism (`HARD_PRODUCT`)
        if rng.random() < 0.5:
            x = push("mul", rng.randint(2, 9), rng.randint(2, 9))
        else:
            x = push("mul", rng.randint(*HARD_PRODUCT[0]), rng.randint(*HARD_PRODUCT[1]))
        push("add" if x < 12 else rng.choice(("add", "sub")), x, rng.randint(2, 9))
    else:
        raise ConfigError(f"level must be one of {LEVELS}, got {level}")
    return tuple(steps)


def make_problem(level: int, rng: random.Random) -> Problem:
    """One random problem of `level` drawn with `rng`."""
    ops = _numbers(level, rng)
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    parts: list[tuple[str, str, int, int]] = []  # (ko template, en template, a, b)
    first_op, a0, b0, _ = ops[0]
    if first_op == "mul":
        ko, en = rng.choice(_OPENING_MUL)
        parts.append((ko, en, a0, b0))
        rest = ops[1:]
    else:
        ko, en = rng.choice(_OPENING)
        parts.append((ko, en, a0, 0))
        rest = ops
    for op, _, b, _ in rest:
        ko, en = rng.choice(_ACTION[op])
        parts.append((ko, en, 0, b))
    ko, en = rng.choice(_QUESTION)
    parts.append((ko, en, 0, 0))
    question = {lang: " ".join(_fill(p[0] if lang == "ko" else p[1], name, item, p[2], p[3], lang) for p in parts)
                for lang in LANGS}
    answer = ops[-1][3]
    steps = {lang: [render_step(lang, *s) for s in ops] + [answer_line(lang, answer)] for lang in LANGS}
    digest = hashlib.sha1((question["en"] + "\n" + question["ko"]).encode("utf-8")).hexdigest()[:12]
    return Problem(id=f"L{level}-{digest}", level=level, question=question, steps=steps, ops=ops, answer=answer)


# One problem in HELD_OUT_BUCKETS is reserved for evaluation: training streams never yield it and held-out
# streams yield nothing else, so train and held-out sets are disjoint by construction, whatever their sizes.
HELD_OUT_BUCKETS = 4


def is_held_out(p: Problem) -> bool:
    """True for the problems reserved for evaluation (a fixed quarter, by a hash of the question text)."""
    return int(p.id.rsplit("-", 1)[1], 16) % HELD_OUT_BUCKETS == 0


def generate(n: int, seed: int, levels: Sequence[int] = LEVELS, held_out: bool | None = None) -> list[Problem]:
    """`n` distinct problems (by question text), levels cycling through `levels`; same seed, same list.

    `held_out` True draws only problems reserved for evaluation, False only the others, None any.
    """
    levels = tuple(levels)
    if not levels or any(lv not in LEVELS for lv in levels):
        raise ConfigError(f"levels must be a non-empty subset of {LEVELS}, got {levels}")
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[Problem] = []
    misses = 0
    while len(out) < n:
        p = make_problem(levels[len(out) % len(levels)], rng)
        if p.id in seen or (held_out is not None and is_held_out(p) != held_out):
            misses += 1
            if misses > 50 * n + 1000:
                raise ConfigError(f"cannot draw {n} distinct problems at levels {levels}; ask for fewer")
            continue
        seen.add(p.id)
        out.append(p)
    return out


def splits(seed: int, n_train: int, n_eval: int, n_probe: int, levels: Sequence[int] = LEVELS,
           n_unseen: int = 0) -> dict[str, list[Problem]]:
    """Disjoint train / eval / probe / unseen sets (no question appears in two), each balanced across levels.

    Train comes from the training stream and the others, in that order, from the held-out stream
    (`is_held_out`), so each set's content depends on the seed and its own position only: asking for
    more unseen problems, or a larger train set, leaves the other sets as they are.
    """
    held = generate(n_eval + n_probe + n_unseen, seed, levels, held_out=True)
    t = n_eval + n_probe
    return {"eval": held[:n_eval], "probe": held[n_eval:t], "train": generate(n_train, seed, levels, held_out=False),
            "unseen": held[t:]}


# ---- exporters in the formats of the design's data contracts --------------------------------------

def discovery_records(problems: Iterable[Problem], langs: Sequence[str] = LANGS) -> list[dict[str, str]]:
    """`{"text", "lang"}` records: each problem's question and solution in each language."""
    return [{"text": p.question[lang] + "\n" + p.solution(lang), "lang": lang} for p in problems for lang in langs]


def sft_records(problems: Iterable[Problem], prompt_lang: str = "ko", reason_lang: str = "ko") -> list[dict[str, str]]:
    """`{"prompt", "completion"}` records: a question in `prompt_lang`, its solution in `reason_lang`."""
    return [{"prompt": p.question[prompt_lang], "completion": p.solution(reason_lang)} for p in problems]


def rl_records(problems: Iterable[Problem], lang: str = "ko") -> list[dict[str, Any]]:
    """`{"prompt", "answer", "lang"}` records for RL, the answer as a string."""
    return [{"prompt": p.question[lang], "answer": str(p.answer), "lang": lang} for p in problems]


def export_jsonl(path: str | Path, records: Sequence[dict[str, Any]]) -> Path:
    """Write records from one of the exporters above as JSONL, atomically."""
    return write_jsonl(path, records)
