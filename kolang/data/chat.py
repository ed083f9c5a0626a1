"""Turning a `{"prompt"}` record into model input text, with the tokenizer's chat template when it has one."""

from __future__ import annotations

from typing import Any


def format_prompt(tokenizer: Any, prompt: str | list[dict[str, str]]) -> str:
    """The text to feed a model for `prompt`: the chat template with the generation prompt when the
    tokenizer has one, else the prompt's plain text followed by a newline.

    `prompt` is a user message, or a list of `{"role", "content"}` messages.
    """
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "\n".join(m["content"] for m in messages) + "\n"
