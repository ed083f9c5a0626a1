"""Self-correcting code-switched traces: right answers, Korean endings, controllable errors and switches."""

from __future__ import annotations

import re

import pytest

from kolang.data.codeswitch import CodeSwitchConfig, build_traces, codeswitch_records
from kolang.data.tasks import extract_answer, generate
from kolang.errors import ConfigError

HANGUL = re.compile(r"[\uac00-\ud7a3]")
PROBLEMS = generate(60, seed=3)


def test_answers_and_korean_ending():
    for p, t in zip(PROBLEMS, build_traces(PROBLEMS, CodeSwitchConfig(error_rate=0.5, switch_rate=0.8, seed=1))):
        assert extract_answer(t.completion) == p.answer
        assert t.sentences[-1][0] == "ko" and HANGUL.search(t.sentences[-1][1])
        assert t.sentences[-2][0] == "ko"  # the last solution step (korean_tail=1)
        assert t.prompt == p.question["ko"]


def test_error_rate_controls_mistakes():
    never = build_traces(PROBLEMS, CodeSwitchConfig(error_rate=0.0))
    always = build_traces(PROBLEMS, CodeSwitchConfig(error_rate=1.0))
    assert all(t.mistake_step is None for t in never)
    for p, t in zip(PROBLEMS, always):
        op, a, b, r = p.ops[t.mistake_step]
        nums = [list(map(int, re.findall(r"-?\d+", s))) for _, s in t.sentences]
        # the slip states a wrong result for that step's operands, and the correct one follows it
        wrong = [n for n in nums if n[:2] == [a, b] and n[-1] != r]
        right = [n for n in nums if n[:2] == [a, b] and n[-1] == r]
        assert wrong and right and nums.index(wrong[0]) < nums.index(right[-1])


def test_switch_rate_controls_language():
    ko_only = build_traces(PROBLEMS, CodeSwitchConfig(error_rate=1.0, switch_rate=0.0, clause_switch=0.0))
    assert all(lang == "ko" for t in ko_only for lang, _ in t.sentences)
    mixed = build_traces(PROBLEMS, CodeSwitchConfig(error_rate=1.0, switch_rate=1.0, clause_switch=1.0))
    langs = {lang for t in mixed for lang, _ in t.sentences}
    assert langs == {"ko", "en", "mixed"}
    assert codeswitch_records(PROBLEMS, CodeSwitchConfig(seed=4)) == codeswitch_records(PROBLEMS, CodeSwitchConfig(seed=4))


def test_bad_config():
    with pytest.raises(ConfigError):
        CodeSwitchConfig(error_rate=1.5)
