"""The one answer grammar: statements, boxes, the number reader, hedges, and the final answer."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from kolang.data import tasks
from kolang.data.answers import (
    answer_values,
    extract_answer,
    final_statement,
    final_value,
    find_statements,
    read_gold,
    read_number,
    read_values,
    split_reasoning,
)


@pytest.mark.parametrize("text, value", [
    ("1,234", Fraction(1234)), ("12,345,678", Fraction(12345678)), ("1,234.5", Fraction(2469, 2)),
    ("-3.5", Fraction(-7, 2)), ("\u22125", Fraction(-5)), ("3/4", Fraction(3, 4)), ("１２", Fraction(12)),
    ("3,5", None), ("12,34", None), ("1,2345", None), ("1, 2", None), ("3/0", None), ("12 apples", None),
])
def test_read_number(text, value):
    assert read_number(text) == value


@pytest.mark.parametrize("answer, values", [
    ("12개", [12]), ("12원", [12]), ("$12", [12]), ("12 apples", [12]), ("12%", [12]), ("**12**", [12]),
    ("\\frac{3}{4}", [Fraction(3, 4)]), ("-\\frac{1}{2}", [Fraction(-1, 2)]), ("3 1/2", [Fraction(7, 2)]),
    ("2\\frac{1}{2}", [Fraction(5, 2)]), ("1{,}234", [1234]), ("12만 원", [120000]), ("1억 2000만", [120000000]),
    ("3천만", [30000000]), ("minus 5", [-5]), ("x = 12", [12]), ("5 + 7 = 12", [12]), ("12 (twelve)", [12]),
    ("12, not 13", [12]), ("13이 아니라 12", [12]), ("12, since 5 + 7 = 12", [12]), ("12, that is 12 apples", [12]),
    ("12 or 13", [12, 13]), ("12 또는 13", [12, 13]), ("either 12 or 13", [12, 13]), ("12~13개", [12, 13]),
    ("12 (or 13)", [12, 13]), ("1, 2", [1, 2]), ("1 2", [1, 2]), ("3,5", [None]), ("12,34", [None]),
    ("twelve (12)", [12]), ("12m", [12]), ("5kg", [5]), ("영하 3도", [-3]),
    ("2\\sqrt{3}", ["2\\sqrt{3}"]), ("3 - 5", ["3 - 5"]), ("2x", ["2x"]), ("right", []), ("", []),
])
def test_read_values(answer, values):
    assert read_values(answer) == values


def test_statements_and_boxes():
    text = "Step \\boxed{5} first. 다음으로 답은 7입니다. The answer is \\boxed{{8}}.\n"
    got = [(s.form, s.answer, s.answer_line) for s in find_statements(text)]
    assert got == [("boxed", "5", False), ("ko", "7", False), ("en", "\\boxed{{8}}", True)]
    assert [s.answer for s in find_statements("\\boxed{12} or \\boxed{13}. \\boxed{14}")] == [
        "\\boxed{12} or \\boxed{13}", "14"]  # boxes in one sentence are one statement


@pytest.mark.parametrize("text, value", [
    ("5 plus 3 is 8. The answer is 8.", 8),
    ("The answer is 3. 다시 계산하면 답은 4입니다. more text", 4),  # the last statement: a self-correction
    ("The answer is 7.\nI hope the answer is right.", 7),  # a statement that states nothing is passed over
    ("The answer is 4. Or maybe 5.", None),  # a hedge in the next sentence
    ("It is 4, or the answer is 5.", None),  # a hedge before the statement
    ("답은 12입니다. 아마도 13입니다.", None),
    ("He ends up with 12 apples.", 12),  # no statement: the last sentence with a number
    ("Maybe 4. Maybe 5.", None),
    ("He had 5 apples and got 7 more, so 12.", None),  # several numbers, none marked as the answer
    ("So 5 + 7 = 12.\n```python\nprint(5 + 7)  # 12\n```", 12),  # code is not read
    ("no answer here", None),
])
def test_final_value(text, value):
    assert final_value(text) == value


def test_free_text_is_optional():
    assert final_value("He ends up with 12 apples.", free_text=False) is None
    assert answer_values("", free_text=True) == []


def test_extract_and_split():
    assert extract_answer("blah\nThe answer is -3.5.") == "-3.5"
    assert extract_answer("따라서 답은 1/2입니다.") == "1/2"
    assert extract_answer("no answer here") is None
    reasoning, answer = split_reasoning("민수는 사과를 가지고 있습니다.\n답은 7입니다.")
    assert (reasoning, answer) == ("민수는 사과를 가지고 있습니다.\n", "7")
    assert split_reasoning("no answer") == ("no answer", None)
    assert final_statement("The answer is right.") is None


def test_gold_answers():
    assert read_gold("1,234") == 1234 and read_gold(7) == 7 and read_gold("\\frac{1}{2}") == Fraction(1, 2)
    assert read_gold("3, 5") is None


def test_task_generator_lines_read_back():
    rng = random.Random(0)
    for _ in range(40):
        p = tasks.make_problem(rng.choice(tasks.LEVELS), rng)
        for lang in tasks.LANGS:
            sol = p.solution(lang)
            (s,) = [s for s in find_statements(sol)]
            assert s.answer_line and s.form == lang and final_value(sol) == p.answer == tasks.extract_answer(sol)
