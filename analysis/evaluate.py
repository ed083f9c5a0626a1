"""Accuracy and reasoning language of a model on word problems, with batched generation.

Used to write the organism's card, and by tuning, RL and the experiments to measure the same
two things the same way: is the answer right, and in which language did the model reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from kolang.analysis.language import language_ratio
from kolang.batching import IGNORE, completion_batch, completion_nll
from kolang.data.answers import final_value
from kolang.data.chat import encode_exchange, format_prompt
from kolang.data.tasks import Problem
from kolang.generation import eos_ids, sample


@torch.no_grad()
def generate_completions(model, tokenizer, prompts: Sequence[str], *, temperature: float = 0.0,
                         max_new_tokens: int = 96, batch_size: int = 64, seed: int = 0) -> list[str]:
    """Completions of chat-formatted `prompts`: greedy at temperature 0, else sampled (full vocabulary).

    Batches are left-padded and decoded with the KV cache (`kolang.generation.sample`); a batch's
    draws depend only on `seed` and its position, whatever ran before.
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stops = eos_ids(tokenizer, model)
    out: list[str] = []
    for start in range(0, len(prompts), batch_size):
        ids = [tokenizer(format_prompt(tokenizer, p), add_special_tokens=False)["input_ids"]
               for p in prompts[start:start + batch_size]]
        new = sample(model, ids, max_new_tokens, stops, pad, temperature=temperature, top_p=1.0,
                     seed=seed * 1_000_003 + start)  # (batch, new tokens)
        out += tokenizer.batch_decode(new, skip_special_tokens=True)
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
    correct = [final_value(t) == p.answer for t, p in zip(texts, problems)]  # as the accuracy reward reads it
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


@torch.no_grad()
def reasoning_nll(model, tokenizer, problems: Sequence[Problem], prompt_lang: str, reason_lang: str, *,
                  batch_size: int = 64) -> float:
    """Mean NLL (nats a token) of the reference solutions in `reason_lang`, end-of-turn included, given
    the chat-formatted question in `prompt_lang`: how well the model can reason in that language.

    Unlike NLL over raw texts, this reads each sequence the way a chat model sees it, special tokens
    and all, and scores only what the model would write.
    """
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    total, count = 0.0, 0
    for start in range(0, len(problems), batch_size):
        seqs = [encode_exchange(tokenizer, p.question[prompt_lang], p.solution(reason_lang))
                for p in problems[start:start + batch_size]]
        ids, mask, labels = completion_batch(seqs, pad)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
        total += float(completion_nll(logits, labels.to(device), reduction="sum"))
        count += int((labels[:, 1:] != IGNORE).sum())
    return total / max(count, 1)
