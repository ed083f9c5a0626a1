"""Splitting completions into thought and answer, for every form reasoning models write."""

from __future__ import annotations

import pytest

from kolang.data.chat import format_prompt
from kolang.data.thought import opens_thought, split_thought
from kolang.organism.tokenizer import chat_template

# (case, completion, opened, thought, answer, form, blocks)
CASES = [
    ("r1/qwen3 block", "<think>\n5 더하기 3은 8.\n</think>\n\n답은 8입니다.", None, "5 더하기 3은 8.", "답은 8입니다.",
     "think", 1),
    ("opening tag pre-filled by the template", "5 plus 3 is 8.\n</think>\nThe answer is 8.", None, "5 plus 3 is 8.",
     "The answer is 8.", "prefilled", 1),
    ("unclosed at the length limit", "<think>\n5 plus 3 is", None, "5 plus 3 is", "", "unclosed", 1),
    ("pre-filled and never closed", "5 plus 3 is", True, "5 plus 3 is", "", "unclosed", 1),
    ("no block", "5 plus 3 is 8. The answer is 8.", None, None, "5 plus 3 is 8. The answer is 8.", "none", 0),
    ("no block, pre-fill unknown", "5 plus 3 is 8.", False, None, "5 plus 3 is 8.", "none", 0),
    ("empty block (enable_thinking off, or nothing thought)", "<think>\n\n</think>\n\nThe answer is 8.", None, "",
     "The answer is 8.", "think", 1),
    ("two blocks", "<think>a</think>b<think>c</think>The answer is 8.", None, "a",
     "b<think>c</think>The answer is 8.", "think", 2),
    ("empty completion", "", None, None, "", "none", 0),
]


@pytest.mark.parametrize("name, text, opened, thought, answer, form, blocks", CASES, ids=[c[0] for c in CASES])
def test_split_thought(name, text, opened, thought, answer, form, blocks):
    s = split_thought(text, opened)
    assert (s.thought, s.answer, s.form, s.blocks) == (thought, answer, form, blocks)
    assert s.closed == (form in ("think", "prefilled"))


def test_parts_leave_out_the_final_statement():
    s = split_thought("<think>민수는 사과가 8개입니다.</think>So Minsu has 8 apples. The answer is 8.")
    assert s.part("thought") == "민수는 사과가 8개입니다."
    assert s.part("answer").strip() == "So Minsu has 8 apples."
    assert "민수는" in s.part("both") and "Minsu" in s.part("both") and "answer is" not in s.part("both")
    plain = split_thought("5 plus 3 is 8. The answer is 8.")
    assert plain.reasoning.strip() == "5 plus 3 is 8." == plain.part("thought").strip() == plain.part("both").strip()
    with pytest.raises(ValueError):
        s.part("everything")


@pytest.mark.parametrize("fmt, thinking, opened", [("none", None, False), ("qwen3", None, False),
                                                   ("qwen3", False, False), ("r1", None, True)])
def test_thought_formats_of_the_organism_template(byte_tok, fmt, thinking, opened):
    tok = byte_tok
    saved = tok.chat_template
    try:
        tok.chat_template = chat_template(fmt)
        text = format_prompt(tok, "1 더하기 1은?", thinking=thinking)
    finally:
        tok.chat_template = saved
    assert text.startswith("<|im_start|>user\n1 더하기 1은?<|im_end|>\n<|im_start|>assistant\n")
    assert opens_thought(text) == opened
    assert text.endswith("<think>\n\n</think>\n\n") == (thinking is False)  # Qwen3's enable_thinking=False
