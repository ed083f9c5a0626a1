"""Grading an answer against a reference: exact numbers first, math-verify for expressions.

The accuracy reward and the evaluation both grade here, so a completion that earns the reward is
one that counts as correct in `kolang eval`.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

from math_verify import parse, verify

from kolang.data.answers import final_value, read_gold


class _DropTimeoutNotice(logging.Filter):
    # math-verify warns on every call when its signal.alarm timeout is off; off the main thread it
    # must be off (signals only reach the main thread), so the notice is noise.
    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_DropTimeoutNotice())


def _parse(text: str) -> list:
    # Timeouts use signal.alarm, which only works on the main thread; TRL may call rewards from
    # worker threads, so they are disabled (math-verify README).
    return parse(text, parsing_timeout=None)


def is_correct(text: str, gold: Any) -> bool:
    """Whether the one value `text` states as its answer (`answers.final_value`) equals `gold`.

    Numbers compare exactly (0.5 = 1/2 = \\frac{1}{2}, 1,234 = 1234, 12개 = 12); when either side is an
    expression (\\sqrt{2}, 2\\pi) math-verify decides. A hedge, a list or no answer is wrong.
    """
    pred = final_value(text)
    if pred is None:
        return False
    want = read_gold(gold)
    if isinstance(pred, Fraction) and isinstance(want, Fraction):
        return pred == want
    gold_s = str(gold).strip()
    gold_p = _parse(f"${gold_s}$") or _parse(gold_s)  # as LaTeX first: plain parsing reads "2\pi" as 2
    pred_p = _parse(f"${pred}$")
    return bool(gold_p and pred_p) and bool(verify(gold_p, pred_p, timeout_seconds=None))
