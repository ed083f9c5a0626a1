"""Batched sampling with the KV cache, lean enough for RL rollouts on small models.

`model.generate` re-checks a dozen options, runs logits processors and stopping criteria at every
token, and prefills every row even when rows repeat a prompt. An RL rollout asks for one thing:
G samples of each prompt. So `sample` prefills each distinct prompt once, copies its cache G
times (`DynamicCache.batch_repeat_interleave`), and decodes with one forward, one softmax and one
draw per token, dropping finished rows from the batch as it goes. Randomness comes from an
explicit `torch.Generator`, so results depend on the seed alone, never on the global RNG.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from transformers import DynamicCache


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) of shape (N, max_len), padded on the left so every row ends in the last column."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, width - len(s):] = torch.as_tensor(list(s), dtype=torch.long)
            mask[i, width - len(s):] = 1
    return ids, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids (B, T) that count real tokens only, so a left-padded row sees the positions it would alone."""
    return (mask.cumsum(dim=1) - 1).clamp(min=0)


def next_tokens(logits: torch.Tensor, temperature: float, top_p: float,
                generator: torch.Generator | None) -> torch.Tensor:
    """One token a row from `logits` (n, V): argmax at temperature 0, else nucleus sampling."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (n, V)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)  # (n, V)
        drop = sorted_p.cumsum(dim=-1) - sorted_p > top_p  # mass before a token already reaches top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        choice = torch.multinomial(sorted_p, 1, generator=generator)  # (n, 1) index into the sorted order
        return order.gather(-1, choice).squeeze(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def eos_ids(tokenizer: Any, model: Any) -> set[int]:
    """Every id that ends a completion: the tokenizer's eos, the generation config's, and `<|im_end|>`."""
    ids = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for e in (tokenizer.eos_token_id, gen_eos):
        if isinstance(e, int):
            ids.add(e)
        elif isinstance(e, (list, tuple)):
            ids.update(int(x) for x in e)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() else None
    if im_end is not None:
        ids.add(int(im_end))
    return ids


def with_cache(model: Any, cache: Any) -> dict[str, Any]:
    """The keyword that hands `cache` to `model`'s forward: `cache` in transformers >= 5.x (where
    `past_key_values` is deprecated and warns at every call), `past_key_values` before."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(type(base).forward).parameters
    return {"cache" if "cache" in params else "past_key_values": cache}


def new_cache(model: Any) -> Any:
    """An empty `DynamicCache` laid out for `model` (a PEFT wrapper is looked through)."""

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return DynamicCache(config=base.config)


@torch.no_grad()
def sample(model: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int, stop_ids: Iterable[int], pad_id: int,
           *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0, seed: int = 0,
           min_new_tokens: int = 1) -> torch.Tensor:
    """Completion ids (len(prompts) * n, C) for prompts given as token ids; rows grouped by prompt.

    Each row holds its tokens up to and including its first stop token, then `pad_id`; C is the
    longest row (at most `max_new_tokens`). Stop tokens are not drawn before `min_new_tokens`.
    Positions count real tokens only, so a left-padded prompt sees the positions it would alone.
    """
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(int(seed))
    stops = torch.tensor(sorted(set(int(s) for s in stop_ids)), dtype=torch.long, device=device)
    ids, mask = left_pad(prompts, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    pos = positions(mask)
    cache = new_cache(model)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, **with_cache(model, cache), use_cache=True,
                logits_to_keep=1)
    logits = out.logits[:, -1, :]  # (P, V)
    if n > 1:  # one prefill a prompt, then G copies of its cache
        cache.batch_repeat_interleave(n)
        logits, mask, pos = (t.repeat_interleave(n, dim=0) for t in (logits, mask, pos))
    N = logits.shape[0]
    result = torch.full((N, max_new_tokens), pad_id, dtype=torch.long, device=device)
    rows = torch.arange(N, device=device)  # original row of each live row
    last = pos[:, -1]  # (N,) position of each live row's last token
    width = 0
    for t in range(max_new_tokens):
        if t < min_new_tokens and len(stops):
            logits = logits.index_fill(-1, stops, float("-inf"))
        tok = next_tokens(logits, temperature, top_p, gen)  # (live,)
        result[rows, t] = tok
        width = t + 1
        live = ~torch.isin(tok, stops)
        if t + 1 == max_new_tokens or not bool(live.any()):
            break
        if not bool(live.all()):  # drop finished rows from the batch and the cache
            keep = live.nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            rows, tok, mask, last = rows[keep], tok[keep], mask[keep], last[keep]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        last = last + 1
        logits = model(input_ids=tok[:, None], attention_mask=mask, position_ids=last[:, None],
                       **with_cache(model, cache), use_cache=True).logits[:, -1, :]
    return result[:, :width].cpu()


def stopped_at(ids: torch.Tensor, stop_ids: Iterable[int]) -> tuple[list[int], list[bool]]:
    """For rows of `sample`'s output (N, C): the tokens each holds before its first stop token, and whether
    it never stopped (cut at the length limit)."""
    stops = torch.tensor(sorted(set(int(s) for s in stop_ids)), dtype=ids.dtype)
    is_stop = torch.isin(ids, stops)  # (N, C)
    truncated = ~is_stop.any(dim=1)
    lengths = torch.where(truncated, ids.shape[1], is_stop.long().argmax(dim=1))
    return lengths.tolist(), truncated.tolist()
