"""Rollouts: G sampled completions per prompt, their masks, and per-token log-probs.

Prompts are left-padded so every row's next token sits at the same position and generation runs
batched with the KV cache (`model.generate`). Sampling is seeded per call from an explicit seed
inside `torch.random.fork_rng`, so a step's completions depend only on (seed, step, weights) and a
resumed run samples exactly what the uninterrupted run sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from kolang.data.chat import format_prompt


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


def encode_prompts(tokenizer: Any, prompts: list[Any], max_length: int) -> list[list[int]]:
    """Token ids of each prompt formatted with the chat template (kept: the last `max_length` ids)."""
    out = []
    for p in prompts:
        text = format_prompt(tokenizer, p)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        out.append(ids[-max_length:])
    return out


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) of shape (N, max_len), padded on the left."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[i, width - len(s):] = 1
    return ids, mask


def completion_mask(ids: torch.Tensor, eos_ids: set[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask (N, C) that is 1 up to and including the first eos, and `truncated` (N,): no eos found."""
    is_eos = torch.zeros_like(ids, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= ids == e
    seen_before = (is_eos.long().cumsum(dim=1) - is_eos.long()) > 0  # (N, C) an eos came strictly earlier
    return (~seen_before).long(), ~is_eos.any(dim=1)


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


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompt_ids: list[list[int]], group_size: int, max_new_tokens: int,
             temperature: float, top_p: float, batch_size: int, seed: int, mask_truncated: bool = False) -> Rollout:
    """Sample `group_size` completions for each prompt (rows grouped by prompt), `batch_size` sequences at a time."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stops = eos_ids(tokenizer, model)
    rows = [ids for ids in prompt_ids for _ in range(group_size)]
    parts = []
    was_training = model.training
    model.eval()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for i in range(0, len(rows), batch_size):
            p_ids, p_mask = left_pad(rows[i: i + batch_size], pad)
            out = model.generate(
                input_ids=p_ids.to(device), attention_mask=p_mask.to(device), do_sample=True, temperature=temperature,
                top_p=top_p, top_k=0, max_new_tokens=max_new_tokens, min_new_tokens=1, pad_token_id=pad,
                eos_token_id=sorted(stops), use_cache=True,
            )
            c_ids = out[:, p_ids.shape[1]:].cpu()  # (n, C)
            c_mask, trunc = completion_mask(c_ids, stops)
            c_ids = c_ids.masked_fill(c_mask == 0, pad)
            if mask_truncated:
                # DAPO overlong filtering: a cut-off completion's reward says nothing about its ending
                c_mask = c_mask * (~trunc).long().unsqueeze(1)
            texts = tokenizer.batch_decode(c_ids.masked_fill(c_ids == pad, pad), skip_special_tokens=True)
            parts.append(Rollout(p_ids, p_mask, c_ids, c_mask, trunc, texts))
    model.train(was_training)
    return Rollout.cat(parts, pad)


def token_logprobs(model: Any, rollout: Rollout, temperature: float, device: Any) -> torch.Tensor:
    """Log-probs (N, C) of the completion tokens under `model` (with grad if enabled).

    Position ids count only real tokens, so a left-padded row sees the positions it would unpadded.
    """
    ids = torch.cat([rollout.prompt_ids, rollout.completion_ids], dim=1).to(device)  # (N, P+C)
    attn = torch.cat([rollout.prompt_mask, torch.ones_like(rollout.completion_ids)], dim=1).to(device)  # (N, P+C)
    pos = (attn.cumsum(dim=1) - 1).clamp(min=0)
    C = rollout.completion_ids.shape[1]
    logits = model(input_ids=ids, attention_mask=attn, position_ids=pos, logits_to_keep=C + 1, use_cache=False).logits  # (N, C+1, V)
    logits = logits[:, :-1, :].float() / temperature  # (N, C, V) predicts completion tokens
    target = ids[:, -C:].unsqueeze(-1)  # (N, C, 1)
    return logits.gather(-1, target).squeeze(-1) - torch.logsumexp(logits, dim=-1)  # (N, C)
