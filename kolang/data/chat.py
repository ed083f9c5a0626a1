"""Turning a `{"prompt"}` record into model input text, with the tokenizer's chat template when it has one."""

from __future__ import annotations

from typing import Any


def format_prompt(tokenizer: Any, prompt: str | list[dict[str, str]], thinking: bool | None = None) -> str:
    """The text to feed a model for `prompt`: the chat template with the generation prompt when the
    tokenizer has one, else the prompt's plain text followed by a newline.

    `prompt` is a user message, or a list of `{"role", "content"}` messages. `thinking` is handed to the
    template as Qwen3's `enable_thinking` flag (False: the template closes an empty thought block, so the
    model answers at once); None leaves the template's default, and templates without the flag ignore it.
    """
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if getattr(tokenizer, "chat_template", None):
        flags = {} if thinking is None else {"enable_thinking": bool(thinking)}
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **flags)
    return "\n".join(m["content"] for m in messages) + "\n"


def encode_exchange(tokenizer: Any, prompt: str | list[dict[str, str]], completion: str) -> tuple[list[int], int]:
    """Token ids of `prompt` as the model sees it (`format_prompt`), then `completion` and the eos
    token, and the prompt's length. The two parts are tokenised separately, so the boundary between
    them is exact whatever the tokenizer merges; what follows the prompt is what the model writes.
    """
    p = tokenizer(format_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    c = tokenizer(completion, add_special_tokens=False)["input_ids"] + ([eos] if eos is not None else [])
    return p + c, len(p)
