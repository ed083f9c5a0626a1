"""Rollouts: G sampled completions per prompt, their masks, and per-token log-probs.

Prompts are left-padded so every row's next token sits at the same position, and generation runs
batched with the KV cache (`kolang.generation.sample`, each prompt prefilled once for its group).
Sampling draws from a generator seeded per call, so a step's completions depend only on (seed,
step, weights) and a resumed run samples exactly what the uninterrupted run sampled.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from kolang.data.chat import format_prompt
from kolang.generation import eos_ids, left_pad, positions, sample, with_cache


@dataclass
class Rollout:
    """A batch of prompt+completion sequences, row r = prompt r // G, sample r % G."""

    prompt_ids: torch.Tensor  # (N, P) left-padded
    prompt_mask: torch.Tensor  # (N, P) 1 on prompt tokens
    completion_ids: torch.Tensor  # (N, C) right-padded
    completion_mask: torch.Tensor  # (N, C) 1 up to and including the first eos
    truncated: torch.Tensor  # (N,) bool: no eos within max_completion_length
    texts: list[str]  # decoded completions (no special tokens)

    def __len__(self) -> int:
        return self.completion_ids.shape[0]

    def rows(self, idx: list[int]) -> "Rollout":
        """The rollout restricted to rows `idx`."""
        t = torch.as_tensor(idx, dtype=torch.long)
        return Rollout(self.prompt_ids[t], self.prompt_mask[t], self.completion_ids[t], self.completion_mask[t],
                       self.truncated[t], [self.texts[i] for i in idx])

    @staticmethod
    def cat(parts: list["Rollout"], pad_id: int) -> "Rollout":
        """Concatenate rollouts, re-padding prompts (left) and completions (right) to common widths."""
        P = max(p.prompt_ids.shape[1] for p in parts)
        C = max(p.completion_ids.shape[1] for p in parts)
        return Rollout(
            torch.cat([F.pad(p.prompt_ids, (P - p.prompt_ids.shape[1], 0), value=pad_id) for p in parts]),
            torch.cat([F.pad(p.prompt_mask, (P - p.prompt_mask.shape[1], 0)) for p in parts]),
            torch.cat([F.pad(p.completion_ids, (0, C - p.completion_ids.shape[1]), value=pad_id) for p in parts]),
            torch.cat([F.pad(p.completion_mask, (0, C - p.completion_mask.shape[1])) for p in parts]),
            torch.cat([p.truncated for p in parts]),
            [t for p in parts for t in p.texts],
        )


def encode_prompts(tokenizer: Any, prompts: list[Any], max_length: int, thinking: bool | None = None) -> list[list[int]]:
    """Token ids of each prompt formatted with the chat template (kept: the last `max_length` ids);
    `thinking` is the template's `enable_thinking` flag (`format_prompt`)."""
    out = []
    for p in prompts:
        text = format_prompt(tokenizer, p, thinking)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        out.append(ids[-max_length:])
    return out


def completion_mask(ids: torch.Tensor, eos_ids: set[int], mask_truncated: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss mask (N, C), 1 up to and including the first eos, and `truncated` (N,): no eos found.

    With `mask_truncated` a truncated row's mask is all 0 (DAPO overlong filtering, arXiv:2503.14476
    §3.4): a cut-off completion's reward says nothing about its ending.
    """
    is_eos = torch.zeros_like(ids, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= ids == e
    seen_before = (is_eos.long().cumsum(dim=1) - is_eos.long()) > 0  # (N, C) an eos came strictly earlier
    truncated = ~is_eos.any(dim=1)
    mask = (~seen_before).long()
    if mask_truncated:
        mask = mask * (~truncated).long().unsqueeze(1)
    return mask, truncated


def generate(model: Any, tokenizer: Any, prompt_ids: list[list[int]], group_size: int, max_new_tokens: int,
             temperature: float, top_p: float, batch_size: int, seed: int, mask_truncated: bool = False) -> Rollout:
    """Sample `group_size` completions for each prompt (rows grouped by prompt), about `batch_size` rows at a time.

    Each prompt is prefilled once and its cache shared by its group (`kolang.generation.sample`).
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stops = eos_ids(tokenizer, model)
    per_batch = max(1, batch_size // group_size)  # prompts a batch; a group is never split
    parts = []
    was_training = model.training
    model.eval()
    for i in range(0, len(prompt_ids), per_batch):
        chunk = prompt_ids[i: i + per_batch]
        c_ids = sample(model, chunk, max_new_tokens, stops, pad, n=group_size, temperature=temperature, top_p=top_p,
                       seed=seed * 1_000_003 + i)  # (n, C)
        p_ids, p_mask = left_pad([ids for ids in chunk for _ in range(group_size)], pad)
        c_mask, trunc = completion_mask(c_ids, stops, mask_truncated)
        texts = tokenizer.batch_decode(c_ids, skip_special_tokens=True)
        parts.append(Rollout(p_ids, p_mask, c_ids, c_mask, trunc, texts))
    model.train(was_training)
    return Rollout.cat(parts, pad)


def token_logprobs(model: Any, rollout: Rollout, temperature: float, device: Any) -> torch.Tensor:
    """Log-probs (N, C) of the completion tokens under `model` (with grad if enabled).

    Position ids count only real tokens, so a left-padded row sees the positions it would unpadded.
    """
    ids = torch.cat([rollout.prompt_ids, rollout.completion_ids], dim=1).to(device)  # (N, P+C)
    attn = torch.cat([rollout.prompt_mask, torch.ones_like(rollout.completion_ids)], dim=1).to(device)  # (N, P+C)
    C = rollout.completion_ids.shape[1]
    logits = model(input_ids=ids, attention_mask=attn, position_ids=positions(attn), logits_to_keep=C + 1,
                   use_cache=False).logits  # (N, C+1, V)
    return _chosen_logprobs(logits[:, :-1, :], ids[:, -C:], temperature)  # logits[:, t] predicts completion token t


def _chosen_logprobs(logits: torch.Tensor, ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-probs (N, C) of tokens `ids` (N, C) under `logits` (N, C, V) at `temperature`."""
    logits = logits.float() / temperature
    return logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


class ReplaySafeCache(DynamicCache):
    """A KV cache that a gradient-checkpointed forward may run twice and get the same answer both times.

    Checkpointing replays each layer's forward in the backward pass; a plain cache would be extended a
    second time there, so transformers hands checkpointed layers no cache at all, and the shared
    prompt pass had nothing to hand on. Here a layer writes its states once: the replay of the pass
    that wrote them gets its own states back, as the first run did from an empty cache, and a
    `reader()` view gives the next pass the stored states before its own without storing anything.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written: set[int] = set()
        self.read_only = False

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if self.read_only:  # (B, heads, P + T, head_dim): the prefix, then this pass's states
            layer = self.layers[layer_idx]
            return torch.cat([layer.keys, key_states], dim=-2), torch.cat([layer.values, value_states], dim=-2)
        if layer_idx in self.written:  # the backward replay of the pass that wrote this layer
            return key_states, value_states
        self.written.add(layer_idx)
        return super().update(key_states, value_states, layer_idx, *args, **kwargs)

    def reader(self) -> "ReplaySafeCache":
        """A view of these states (the same layer objects) that a later pass reads and never extends."""
        view = copy.copy(self)
        view.read_only = True
        return view


@contextmanager
def cache_through_checkpoints(model: Any) -> Iterator[None]:
    """Let gradient-checkpointed layers keep the cache they are given, for the forwards inside the context.

    transformers drops it unless a layer says it only reads (`_can_checkpoint_with_cache`); with a
    `ReplaySafeCache` a replay reads what the first run read, so the flag is true for these passes.
    The replays in the backward pass run with the arguments captured here, after the context ends.
    """
    layers = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False)
              and hasattr(type(m), "_can_checkpoint_with_cache")]
    for m in layers:
        m._can_checkpoint_with_cache = True  # on the instance; the class default returns when it is deleted
    try:
        yield
    finally:
        for m in layers:
            del m._can_checkpoint_with_cache


def shares_prompts_under_checkpointing() -> bool:
    """Whether this transformers lets a checkpointed layer keep a cache (>= 5.x's `_can_checkpoint_with_cache`)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return hasattr(GradientCheckpointingLayer, "_can_checkpoint_with_cache")


def group_logprobs(model: Any, rollout: Rollout, group_size: int, temperature: float, device: Any) -> torch.Tensor:
    """What `token_logprobs` returns, with each group's shared prompt computed once instead of G times.

    Rows come in groups of `group_size` with the same prompt. The prompts run once, their KV cache
    is repeated for each completion, and the completions run on top of it; gradients flow through
    the shared prompt pass, so values and gradients equal the row-by-row computation. The prompt is
    usually most of each sequence, so this divides a step's forward and backward work by up to G.
    Under gradient checkpointing too: the cache is a `ReplaySafeCache` (a model that withholds the
    cache from checkpointed layers anyway, as GPT-2's does, is scored row by row).
    """
    G, N = group_size, len(rollout)
    if N % G:
        raise ValueError(f"{N} rows do not split into groups of {G}")
    first = torch.arange(0, N, G)
    p_ids, p_mask = rollout.prompt_ids[first].to(device), rollout.prompt_mask[first].to(device)  # (N/G, P)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cache = ReplaySafeCache(config=base.config)
    c_ids = rollout.completion_ids.to(device)  # (N, C)
    C = c_ids.shape[1]
    attn = torch.cat([p_mask.repeat_interleave(G, dim=0), torch.ones_like(c_ids)], dim=1)  # (N, P+C)
    pos = p_mask.sum(dim=1).repeat_interleave(G).unsqueeze(1) + torch.arange(C, device=c_ids.device)  # (N, C)
    with cache_through_checkpoints(model):
        out = model(input_ids=p_ids, attention_mask=p_mask, position_ids=positions(p_mask),
                    **with_cache(model, cache), use_cache=True, logits_to_keep=1)
        if not cache.written:  # a model that drops the cache itself under checkpointing (GPT-2 does): row by row
            return token_logprobs(model, rollout, temperature, device)
        head = out.logits[:, -1:, :].repeat_interleave(G, dim=0)  # (N, 1, V) predicts each first completion token
        cache.batch_repeat_interleave(G)
        rest = model(input_ids=c_ids, attention_mask=attn, position_ids=pos, **with_cache(model, cache.reader()),
                     use_cache=True).logits
    return _chosen_logprobs(torch.cat([head, rest[:, :-1, :]], dim=1), c_ids, temperature)  # (N, C, V) logits
