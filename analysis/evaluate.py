"""Accuracy and reasoning language of a model on word problems, with batched generation.

Used to write the organism's card, and by tuning, RL and the experiments to measure the same
two things the same way: is the answer right, and in which language did the model reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from kolang.analysis.language import language_ratio
from kolang.data.chat import format_prompt
from kolang.data.tasks import Problem, extract_answer


@torch.no_grad()
def generate_completions(model, tokenizer, prompts: Sequence[str], *, temperature: float = 0.0,
                         max_new_tokens: int = 96, batch_size: int = 64, seed: int = 0) -> list[str]:
    """Completions of chat-formatted `prompts`: greedy at temperature 0, else sampled (full vocabulary).

    Batches are left-padded so every row's next token sits in the last column, and decoding uses
    the KV cache.
    """
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            texts = [format_prompt(tokenizer, p) for p in prompts[start:start + batch_size]]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            kw: dict[str, Any] = {"do_sample": False}
            if temperature > 0:
                # Seeding per batch keeps sampling reproducible whatever ran before.
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                kw = {"do_sample": True, "temperature": float(temperature), "top_k": 0, "top_p": 1.0}
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, use_cache=True,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **kw)
            new = ids[:, enc["input_ids"].shape[1]:]  # (batch, new tokens)
            out += tokenizer.batch_decode(new, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return out


def evaluate(model, tokenizer, problems: Sequence[Problem], prompt_lang: str, *, temperature: float = 0.0,
             max_new_tokens: int = 96, batch_size: int = 64, target: str = "ko", seed: int = 0,
             return_completions: bool = False) -> dict[str, Any]:
    """Ask each problem in `prompt_lang` and score the completions.

    Returns `n`, `accuracy`, `accuracy_by_level` ({level: accuracy}), `target_share` (mean share of
    `target`-language letters in the reasoning, over completions that have letters), `mostly_target`
    (share of completions whose reasoning is more than half `target`), and `completions` on request.
    """
    was_training = model.training
    model.eval()
    texts = generate_completions(model, tokenizer, [p.question[prompt_lang] for p in problems],
                                 temperature=temperature, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                 seed=seed)
    model.train(was_training)
    correct = [extract_answer(t) == p.answer for t, p in zip(texts, problems)]
    ratios = [language_ratio(t, target) for t in texts]
    known = [r for r in ratios if r is not None]
    by_level: dict[int, list[bool]] = {}
    for p, c in zip(problems, correct):
        by_level.setdefault(p.level, []).append(c)
    result: dict[str, Any] = {
        "n": len(problems),
        "prompt_lang": prompt_lang,
        "temperature": temperature,
        "accuracy": sum(correct) / max(1, len(correct)),
        "accuracy_by_level": {lv: sum(v) / len(v) for lv, v in sorted(by_level.items())},
        "target_share": sum(known) / len(known) if known else 0.0,
        "mostly_target": sum(r is not None and r > 0.5 for r in ratios) / max(1, len(ratios)),
    }
    if return_completions:
        result["completions"] = texts
    return result
