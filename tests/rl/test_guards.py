"""Guards of the language reward: repetition at any length, and long spans copied from the prompt."""

from __future__ import annotations

import pytest

from kolang.analysis.language import strip_nonlinguistic
from kolang.rl.guards import degenerate, drop_copied, drop_repeated_words, repeat_share

Q = "민수는 사과를 5개 가지고 있습니다. 친구가 민수에게 3개를 더 줍니다. 이제 사과는 모두 몇 개입니까?"


def test_repeat_share_against_a_direct_count():
    text = "가나다가나다가나라가나다"
    direct = max(sum(text[i] == text[i - p] for i in range(p, len(text))) / (len(text) - p)
                 for p in range(1, len(text) // 3 + 1))
    assert repeat_share(text) == pytest.approx(direct)
    assert repeat_share("가가가") == 1.0 and repeat_share("가나") == 0.0 and repeat_share("") == 0.0


@pytest.mark.parametrize("text, reason", [
    ("ㅋㅋㅋㅋ ㅎㅎㅎ", "bare jamo, not syllables"),
    ("가가가가가가가가", "few distinct letters"),
    ("정말 좋아요 정말 좋아요 정말 좋아요", "one short unit repeated"),
    ("민수는 사과를 맛있게 먹었다 " * 5, "low distinct-word ratio"),
    ("민수는 사과를 가지고 있고 친구가 세 개를 더 줍니다", None),
    ("단계 더하기 은 입니다 단계 더하기 는 입니다 단계 더하기 는 입니다", None),  # templated steps, numbers stripped
])
def test_degenerate(text, reason):
    assert degenerate(text, text) == reason


def test_drop_repeated_words():
    assert drop_repeated_words("정말좋아요정말좋아요정말좋아요 Minsu has apples") == "Minsu has apples"
    assert drop_repeated_words("차근차근 풀어 봅시다") == "차근차근 풀어 봅시다"  # two copies are a word


def test_drop_copied_takes_long_spans_only():
    own = strip_nonlinguistic("민수는 사과를 5개 가지고 있고 친구에게 3개를 더 받았으므로 모두 여덟 개입니다.")
    assert drop_copied(own, Q) == "받았으므로 모두 여덟 개입니다"
    assert drop_copied(strip_nonlinguistic("민수는 사과를 좋아합니다"), Q) == "민수는 사과를 좋아합니다"  # names, items
    echo = strip_nonlinguistic(Q.replace("있습니다", "있어요").replace(" ", "") + " Minsu has five apples")
    assert drop_copied(echo, Q) == "Minsu has five apples"
    english = "You are a helpful assistant. Think step by step."
    assert drop_copied("I think step by step here", english) == "I here"  # twelve letters of an alphabet, any case
    assert drop_copied("I think step here", english) == "I think step here"
