"""The accuracy reward's rules as a table, each row checked against TRL's `accuracy_reward` too.

Rows marked `# was 1.0` (or `# was 0.0`) scored that before the answer grammar moved to
`kolang.data.answers`: commas and spaces were removed before comparing, so digit lists and split
numbers passed, and without an answer line the last number of the text was taken, so a hedge
passed when its last candidate was right.
"""

from __future__ import annotations

import pytest

from kolang.rl.rewards import AccuracyReward

PLAIN = "TRL reads LaTeX only ($...$ after an answer phrase, or \\boxed{}), not a plain-text number"
ANCHOR = "TRL reads $...$ only after an answer phrase ('the answer is') or inside \\boxed{}"
GOLD = "TRL parses the gold as LaTeX: a bare \\sqrt{12} is not found, so TRL skips the row (None)"

# (case, completion, gold, kolang, TRL's accuracy_reward, why TRL differs)
TABLE = [
    ("en answer line", "3 + 4 = 7. The answer is 7.", "7", 1.0, 0.0, PLAIN),
    ("ko answer line", "풀이: 3 + 4 = 7.\n답은 7입니다.", "7", 1.0, 0.0, PLAIN),
    ("ko in-sentence", "따라서 답은 7입니다", "7", 1.0, 0.0, PLAIN),
    ("final answer is", "So the final answer is: 7", "7", 1.0, 0.0, PLAIN),
    ("thousands", "The answer is 1,234.", "1234", 1.0, 0.0, PLAIN),
    ("thousands ko won", "답은 1,234원입니다.", "1234", 1.0, 0.0, PLAIN),
    ("thousands millions", "The answer is 12,345,678.", "12345678", 1.0, 0.0, PLAIN),
    ("thousands and decimals", "The answer is 12,345.67.", "12345.67", 1.0, 0.0, PLAIN),
    ("thousands in latex", "The answer is $1{,}234$.", "1234", 1.0, 1.0, ""),
    ("gold with separator", "The answer is 1234.", "1,234", 1.0, 0.0, PLAIN),
    ("digit list", "The answer is 1, 2.", "12", 0.0, 0.0, ""),  # was 1.0
    ("3,5 is not 35", "The answer is 3,5.", "35", 0.0, 0.0, ""),  # was 1.0
    ("3,5 is not 3.5", "The answer is 3,5.", "3.5", 0.0, 0.0, ""),  # was 1.0
    ("bad grouping 12,34", "The answer is 12,34.", "1234", 0.0, 0.0, ""),  # was 1.0
    ("bad grouping 1,2345", "The answer is 1,2345.", "12345", 0.0, 0.0, ""),  # was 1.0
    ("digits split by a space", "The answer is 1 2.", "12", 0.0, 0.0, ""),  # was 1.0
    ("boxed digit list", "\\boxed{1, 2}", "12", 0.0, 0.0, ""),
    ("fraction", "The answer is 3/4.", "3/4", 1.0, 0.0, PLAIN),
    ("decimal = fraction", "The answer is 0.75.", "3/4", 1.0, 0.0, PLAIN),
    ("latex frac = decimal", "The answer is $\\frac{3}{4}$.", "0.75", 1.0, 1.0, ""),
    ("boxed frac", "so \\boxed{\\frac{1}{2}}", "0.5", 1.0, 1.0, ""),
    ("boxed nested braces", "The total is \\boxed{{12}}", "12", 1.0, 1.0, ""),
    ("ko decimal = fraction", "답은 3.5입니다.", "7/2", 1.0, 0.0, PLAIN),
    ("negative", "The answer is -5.", "-5", 1.0, 0.0, PLAIN),
    ("negative, unicode minus", "The answer is \u22125.", "-5", 1.0, 0.0, PLAIN),
    ("boxed negative", "\\boxed{-5}", "-5", 1.0, 1.0, ""),
    ("units", "The answer is 12 apples.", "12", 1.0, 0.0, PLAIN),
    ("ko counter", "답은 12개입니다.", "12", 1.0, 0.0, PLAIN),
    ("currency", "The answer is $12.", "12", 1.0, 0.0, PLAIN),
    ("boxed units", "\\boxed{12 \\text{ apples}}", "12", 1.0, 1.0, ""),
    ("ko large-number unit", "답은 12만 원입니다.", "120000", 1.0, 0.0, PLAIN),  # was 0.0
    ("attached unit", "The answer is 12m.", "12", 1.0, 0.0, PLAIN),
    ("number in parentheses", "The answer is twelve (12).", "12", 1.0, 0.0, PLAIN),
    ("mixed number", "The answer is 3 1/2.", "3.5", 1.0, 0.0, PLAIN),
    ("negative in words", "The answer is minus 5.", "-5", 1.0, 0.0, PLAIN),
    ("ko below zero", "답은 영하 3도입니다.", "-3", 1.0, 0.0, PLAIN),
    ("a variable is not a number", "The answer is 2x.", "2", 0.0, 0.0, ""),
    ("percent", "The answer is 12.5%.", "12.5", 1.0, 0.0, PLAIN),
    ("bold", "The answer is **12**.", "12", 1.0, 0.0, PLAIN),
    ("full-width digits", "답은 １２입니다.", "12", 1.0, 0.0, PLAIN),  # was 0.0
    ("expression", "The answer is $2\\sqrt{3}$.", "\\sqrt{12}", 1.0, None, GOLD),
    ("equation's right side", "The answer is x = 12.", "12", 1.0, 0.0, PLAIN),
    ("latex equation", "$x = 12$", "12", 1.0, 0.0, ANCHOR),
    ("hedge: or", "The answer is 12 or 13.", "13", 0.0, 0.0, ""),  # was 1.0
    ("hedge: 또는", "답은 12 또는 13입니다.", "13", 0.0, 0.0, ""),  # was 1.0
    ("hedge: maybe", "Maybe 4, maybe 5.", "5", 0.0, 0.0, ""),  # was 1.0
    ("hedge: two boxes", "\\boxed{12} or \\boxed{13}", "12", 0.0, 0.0, ""),
    ("hedge: next sentence", "The answer is 4. Or maybe 5.", "4", 0.0, 0.0, ""),  # was 1.0
    ("hedge: ko range", "답은 12~13개입니다.", "12", 0.0, 0.0, ""),  # was 1.0
    ("hedge in latex", "Maybe $4$, maybe $5$.", "5", 0.0, 0.0, ""),  # was 1.0
    ("hedge: and", "The answer is 4 and 5.", "5", 0.0, 0.0, ""),
    ("one value repeated", "The answer is 12, that is 12 apples.", "12", 1.0, 0.0, PLAIN),
    ("one value twice", "The answer is 12 or 12.", "12", 1.0, 0.0, PLAIN),
    ("rejected candidate", "The answer is 12, not 13.", "12", 1.0, 0.0, PLAIN),  # was 0.0
    ("ko rejected candidate", "답은 13이 아니라 12입니다.", "12", 1.0, 0.0, PLAIN),
    ("justification", "The answer is 12, since 5 + 7 = 12.", "12", 1.0, 0.0, PLAIN),
    ("self-correction", "The answer is 3. 다시 계산하면 답은 4입니다.", "4", 1.0, 0.0, PLAIN),
    ("statement stating nothing", "The answer is 7.\nI hope the answer is right.", "7", 1.0, 0.0, PLAIN),
    ("free text equation", "5 + 7 = 12", "12", 1.0, 0.0, PLAIN),
    ("free text, one number", "He ends up with 12 apples.", "12", 1.0, 0.0, PLAIN),
    ("free text, several numbers", "He had 5 apples and got 7 more, so 12.", "12", 0.0, 0.0, ""),  # was 1.0
    ("wrong", "The answer is 8.", "7", 0.0, 0.0, ""),
    ("no answer", "I do not know.", "7", 0.0, 0.0, ""),
]
IDS = [row[0] for row in TABLE]


@pytest.mark.parametrize("case, completion, gold, want, trl, why", TABLE, ids=IDS)
def test_accuracy_table(case, completion, gold, want, trl, why):
    assert AccuracyReward().score(completion, gold) == want


@pytest.mark.parametrize("case, completion, gold, want, trl, why", TABLE, ids=IDS)
def test_trl_accuracy_reward_on_the_table(case, completion, gold, want, trl, why):
    """The TRL column is what `trl.rewards.accuracy_reward` gives, and every difference has its reason."""
    rewards = pytest.importorskip("trl.rewards")
    got = rewards.accuracy_reward([[{"role": "assistant", "content": completion}]], [gold])[0]
    assert got == trl
    assert bool(why) == (trl != want)


def test_table_is_large_and_covers_both_outcomes():
    assert len(TABLE) >= 30
    assert {row[3] for row in TABLE} == {0.0, 1.0}
