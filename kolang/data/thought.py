"""Thought and answer: the two parts of a reasoning model's completion.

Reasoning models (DeepSeek-R1 and its distills, Qwen3, any R1-style SFT) write their thought in a
`<think>…</think>` block and then the answer. Completions come in these forms:

- `<think>thought</think>answer`: the block as the model writes it;
- `thought</think>answer`: the chat template pre-filled `<think>` in the prompt (R1 distills do), so
  the completion starts inside the block;
- `<think>thought…` with no closing tag: the length limit cut the thought short (also a pre-filled
  block that never closes, when the caller says the prompt opened one);
- no tags at all: a model without a thought format, or Qwen3 with `enable_thinking=False` (whose
  template writes an empty block into the prompt). The whole completion is then the answer, and the
  reasoning it holds (the text without its final answer statement) stands for the thought.

Rewards, evaluation and the collapse monitor all split completions here, so they never disagree on
which part of a completion is the thought.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kolang.data.answers import split_reasoning

OPEN, CLOSE = "<think>", "</think>"
PARTS = ("thought", "answer", "both")
"""What a language measure reads: the thought, the answer, or the whole completion."""

_OPEN_AT_END = re.compile(r"<think>\s*$")


@dataclass(frozen=True)
class Split:
    """A completion cut into its thought and its answer."""

    thought: str | None
    """The text of the thought block (stripped), or None when the completion has no block."""
    answer: str
    """What follows the block (stripped); the whole completion when there is no block; "" when the block never closes."""
    form: str
    """"think" (both tags), "prefilled" (closing tag only: the prompt opened the block), "unclosed" (no
    closing tag: cut at the length limit) or "none" (no block)."""
    blocks: int
    """How many thought blocks the completion opens or closes (the larger count of either tag)."""

    @property
    def closed(self) -> bool:
        """Whether the completion has a thought block that closes."""
        return self.form in ("think", "prefilled")

    @property
    def reasoning(self) -> str:
        """The thought, or for a completion without a block its text without the final answer statement."""
        return self.thought if self.thought is not None else split_reasoning(self.answer)[0]

    def part(self, which: str) -> str:
        """The text a language measure reads: "thought" (`reasoning`), "answer" (the answer without its final
        statement, so "The answer is 12." alone says nothing of the answer's language) or "both"."""
        if which == "thought":
            return self.reasoning
        answer = split_reasoning(self.answer)[0]
        if which == "answer":
            return answer
        if which == "both":
            return answer if self.thought is None else f"{self.thought}\n{answer}"
        raise ValueError(f"unknown part '{which}'; use one of {', '.join(PARTS)}")


def split_thought(text: str, opened: bool | None = None) -> Split:
    """Split a completion into thought and answer.

    `opened` says whether the prompt ended inside an open `<think>` block (see `opens_thought`): True
    makes a completion without tags an unclosed thought; None (unknown) infers a pre-filled block from
    a closing tag that no opening tag precedes.
    """
    text = text or ""
    blocks = max(text.count(OPEN), text.count(CLOSE))
    start = text.find(OPEN)
    end = text.find(CLOSE)
    if end >= 0 and (start < 0 or end < start):  # the prompt opened the block
        return Split(text[:end].strip(), text[end + len(CLOSE):].strip(), "prefilled", max(blocks, 1))
    if start >= 0:
        body = start + len(OPEN)
        end = text.find(CLOSE, body)
        if end < 0:
            return Split(text[body:].strip(), "", "unclosed", blocks)
        # A second block after the first belongs to the answer text; `blocks` tells the format reward.
        return Split(text[body:end].strip(), text[end + len(CLOSE):].strip(), "think", blocks)
    if opened:
        return Split(text.strip(), "", "unclosed", 1)
    return Split(None, text.strip(), "none", 0)


def opens_thought(prompt_text: str) -> bool:
    """Whether a formatted prompt ends inside an open `<think>` block (an R1-style template pre-fills it)."""
    return bool(_OPEN_AT_END.search(prompt_text or ""))
