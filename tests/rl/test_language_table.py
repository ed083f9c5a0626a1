"""The language reward on genuine Korean reasoning (>= 0.8) and on every known hack (<= 0.2).

Each hack scored more than 0.2 before the character-level guards, the stripping of unrendered
markup and the discount of text copied from the prompt: a dozen repeated jamo or one repeated
syllable block scored 1.0 (the word and compression guards start at 8 words or 256 bytes), Korean
in an HTML comment or a hidden element and invisible Hangul fillers counted as Korean, and an echo
of the Korean question earned a third to a half of the reward for English reasoning.
"""

from __future__ import annotations

import pytest

from kolang.data.tasks import generate
from kolang.errors import RewardError
from kolang.rl.rewards import LanguageConsistencyReward

Q = "민수는 사과를 5개 가지고 있습니다. 친구가 민수에게 3개를 더 줍니다. 이제 사과는 모두 몇 개입니까?"
EN = "Minsu has 5 apples and gets 3 more, so 5 + 3 = 8 apples."
HIDDEN = "민수는 사과를 다섯 개 가지고 있고 친구가 세 개를 더 주었으므로 모두 여덟 개입니다"
END, KO_END = "\nThe answer is 8.", "\n답은 8입니다."
P = generate(2, seed=5)

LONG = """## 문제 이해
문제를 다시 읽어 보면, "민수는 사과를 5개 가지고 있습니다. 친구가 민수에게 3개를 더 줍니다." 라는 상황입니다.
처음 개수와 더 받은 개수를 더하면 됩니다.

| 단계 | 계산 | 결과 |
|---|---|---|
| 1 | $5 + 3$ | 8 |

## 풀이
전체 과정을 식으로 쓰면
$$
5 + 3 = 8
$$
입니다. 검산을 위해 간단한 코드를 실행해 봅니다.

```python
apples = 5
apples += 3  # a friend gives three more
print(apples)  # 8
```

- 첫째, 처음 수에서 시작합니다.
- 둘째, 친구가 준 사과를 더합니다.
- 셋째, 결과가 코드의 출력과 같은지 확인합니다.

모든 계산이 일치하므로 최종 결과는 $\\boxed{8}$ 입니다.
답은 8입니다."""

# (case, prompt, completion)
GENUINE = [
    ("organism solution", Q, "5 더하기 3은 8입니다. 답은 8입니다."),
    ("task solution", P[0].question["ko"], P[0].solution("ko")),
    ("task solution, two steps", P[1].question["ko"], P[1].solution("ko")),
    ("markdown, table, display math, code, bullets", Q, LONG),
    ("restates the question, then reasons", Q,
     f"문제: {Q}\n처음 사과에 친구가 준 사과를 더하면 됩니다. 5 + 3 = 8이므로 모두 여덟 개입니다." + KO_END),
    ("restates a short expression", "5 더하기 3은 얼마입니까?", "5 더하기 3은 8입니다." + KO_END),
    ("names and items from the question", Q,
     "민수는 사과 5개로 시작합니다. 친구가 민수에게 사과 3개를 주었으니 민수의 사과는 늘어납니다. "
     "민수가 가진 사과는 5 + 3 = 8개입니다." + KO_END),
    ("inline latex fractions", "피자 한 판의 $\\frac{3}{4}$ 을 먹었습니다. 남은 양은?",
     "전체를 1로 두면 남은 양은 $1 - \\frac{3}{4} = \\frac{1}{4}$ 입니다. 즉 피자의 4분의 1이 남습니다.\n"
     "답은 1/4입니다."),
    ("bold, numbered steps, an english term", Q,
     "**풀이 순서**\n1. 민수가 처음 가진 사과: 5개\n2. 친구에게 받은 사과: 3개\n"
     "3. 합계를 구합니다 (Python의 `sum` 함수로도 확인 가능).\n\n"
     "- 덧셈 결과는 8개입니다.\n- 따라서 민수는 사과 8개를 가지고 있습니다." + KO_END),
    ("think tags", Q,
     "<think>\n민수는 처음에 사과 다섯 개를 가지고 있었고 친구가 세 개를 더 주었으니 더하면 여덟 개가 됩니다.\n"
     "</think>\n따라서 답은 8입니다."),
    ("code heavy", Q,
     "파이썬으로 계산해 보겠습니다.\n```python\ndef total(a: int, b: int) -> int:\n    return a + b\n\n"
     "print(total(5, 3))\n```\n출력은 8이므로 사과는 모두 여덟 개입니다." + KO_END),
    ("aligned equations", Q,
     "식을 세우면 다음과 같습니다.\n\\begin{align}\nx &= 5 + 3 \\\\\n  &= 8\n\\end{align}\n"
     "따라서 구하는 값은 여덟입니다." + KO_END),
    ("markdown table of numbers", Q,
     "| 항목 | 개수 |\n|---|---|\n| 처음 사과 | 5 |\n| 받은 사과 | 3 |\n| 합계 | 8 |\n\n"
     "표에서 보듯이 합계는 8개입니다." + KO_END),
    ("templated steps", Q,
     "1단계: 5 더하기 3은 8입니다. 2단계: 8 더하기 2는 10입니다. 3단계: 10 더하기 4는 14입니다.\n답은 14입니다."),
    ("a laugh inside", Q,
     "하하하하하하 재미있는 문제네요. 민수의 사과 5개에 친구가 준 3개를 더하면 모두 8개가 됩니다." + KO_END),
    ("chat prompt", [{"role": "system", "content": "한국어로 단계별로 생각하세요."}, {"role": "user", "content": Q}],
     "단계별로 생각해 보겠습니다. 처음 다섯 개에 세 개를 더하면 여덟 개입니다." + KO_END),
]
HACKS = [
    ("repeated jamo", Q, "ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ" + END),
    ("repeated jamo beside english", Q, "ㅎㅎㅎㅎㅎㅎㅎㅎㅎㅎ ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ ㅠㅠㅠㅠㅠ\n" + EN + END),
    ("repeated syllable", Q, "가가가가가가가가가가가가" + END),
    ("repeated syllable blocks", Q, "한국어한국어한국어한국어" + END),
    ("repeated short phrase", Q, "정말 좋아요 정말 좋아요 정말 좋아요" + KO_END),
    ("repeated one-syllable word", Q, "네 네 네 네 네 네 네" + KO_END),
    ("repeated phrase without spaces beside english", Q, "정말좋아요" * 5 + " " + EN + END),
    ("korean in an html comment", Q, f"<!-- {HIDDEN} -->\n{EN}{END}"),
    ("korean in an unclosed html comment", Q, f"{EN}{END}\n<!-- {HIDDEN}"),
    ("korean in a display:none span", Q, f'<span style="display:none">{HIDDEN}</span>\n{EN}{END}'),
    ("korean in a hidden div", Q, f"<div hidden>{HIDDEN}</div>\n{EN}{END}"),
    ("korean in a font-size:0 span", Q, f'<span style="font-size:0">{HIDDEN}</span>\n{EN}{END}'),
    ("korean in a markdown comment", Q, f"[//]: # ({HIDDEN})\n{EN}{END}"),
    ("korean in a style body", Q, f"<style>/* {HIDDEN} */</style>\n{EN}{END}"),
    ("invisible hangul fillers", Q, EN + "\u3164" * 60 + END),
    ("invisible conjoining fillers", Q, EN + "\u115f\u1160" * 30 + END),
    ("echoed question, english reasoning", Q, f"{Q}\n{EN}{END}"),
    ("echoed question without spaces, english reasoning", Q, Q.replace(" ", "") + f"\n{EN}{END}"),
    ("question copied with trivial edits, english reasoning", Q,
     f"민수는 사과를 5개 갖고 있습니다. 친구가 민수에게 3개 더 줬습니다. 이제 사과는 전부 몇 개일까요?\n{EN}{END}"),
    ("question copied with trivial edits, nothing else", Q,
     "민수는 사과 5개를 가지고 있어요. 친구가 민수한테 3개를 더 줍니다. 그럼 사과는 모두 몇 개입니까?" + KO_END),
    ("question echoed from a chat prompt", [{"role": "user", "content": Q}], f"{Q}\n{EN}{END}"),
]


@pytest.mark.parametrize("case, prompt, completion", GENUINE, ids=[c[0] for c in GENUINE])
def test_genuine_korean_reasoning_keeps_its_reward(case, prompt, completion):
    r = LanguageConsistencyReward("ko")
    (score,) = r(prompts=[prompt], completions=[completion])
    assert score >= 0.8, (score, r.explain(completion, prompt=str(prompt)))


@pytest.mark.parametrize("case, prompt, completion", HACKS, ids=[c[0] for c in HACKS])
def test_hacks_score_at_most_a_fifth(case, prompt, completion):
    r = LanguageConsistencyReward("ko")
    (score,) = r(prompts=[prompt], completions=[[{"role": "assistant", "content": completion}]])
    assert score <= 0.2, (score, r.explain(completion, prompt=str(prompt)))


def test_prompts_must_match_completions():
    r = LanguageConsistencyReward("ko")
    assert r(prompts=None, completions=["민수는 사과를 가지고 있습니다."]) == [1.0]
    with pytest.raises(RewardError, match="2 prompts for 1 completions"):
        r(prompts=[Q, Q], completions=["민수는 사과를 가지고 있습니다."])
