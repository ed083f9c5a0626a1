"""Training the organism from scratch: a small Qwen2 model, AdamW with a cosine schedule, loss on targets only.

CPU training of a model this small is dominated by per-step overhead and padding, so sequences are
batched with others of similar length (a shuffled window of batches is sorted by length, then the
batches are shuffled), which removes most padding while keeping the order random.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import torch
import transformers

from kolang.batching import completion_batch
from kolang.organism.config import OrganismConfig
from kolang.organism.corpus import Example

Progress = Callable[[str, int, int], None]


def make_model(cfg: OrganismConfig, tokenizer, seed: int) -> transformers.Qwen2ForCausalLM:
    """A freshly initialised Qwen2 causal LM of `cfg`'s shape, float32."""
    torch.manual_seed(seed)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=256, tie_word_embeddings=True, rope_theta=10000.0,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    return transformers.Qwen2ForCausalLM(config).float()


def tokenize(examples: list[Example], tokenizer, max_len: int) -> list[tuple[list[int], int]]:
    """(token ids, prompt length) per example; the loss starts at the prompt length."""
    out = []
    for e in examples:
        p = tokenizer(e.prompt, add_special_tokens=False)["input_ids"] if e.prompt else []
        t = tokenizer(e.target, add_special_tokens=False)["input_ids"]
        if len(p) + len(t) <= max_len:
            out.append((p + t, len(p)))
    return out


def length_batches(lengths: list[int], batch_size: int, rng: random.Random, window: int = 50) -> list[list[int]]:
    """One epoch of batches of indices; each batch holds sequences of similar length."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size * window):
        chunk = sorted(order[start:start + batch_size * window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def lr_at(step: int, cfg: OrganismConfig) -> float:
    """Linear warm-up to `cfg.lr`, then a cosine decay to a tenth of it."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def train(model: torch.nn.Module, data: list[tuple[list[int], int]], cfg: OrganismConfig, seed: int,
          pad_id: int, progress: Progress | None = None) -> dict[str, Any]:
    """Train `model` in place for `cfg.steps` steps; returns the final loss, its curve, tokens seen and seconds."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    lengths = [len(ids) for ids, _ in data]
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    model.train()
    batches: list[list[int]] = []
    tokens, ema, t0 = 0, None, time.perf_counter()
    curve: list[float] = []  # smoothed loss at each tenth of training, for the card
    for step in range(cfg.steps):
        if not batches:
            batches = length_batches(lengths, cfg.batch_size, rng)
        input_ids, mask, labels = completion_batch([data[i] for i in batches.pop()], pad_id)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += int(mask.sum())
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if (step + 1) % max(1, cfg.steps // 10) == 0:
            curve.append(round(ema, 4))
        if progress is not None:
            progress("train", step + 1, cfg.steps)
    model.eval()
    return {"final_loss": round(float(ema or 0.0), 4), "loss_curve": curve, "tokens": tokens,
            "train_seconds": round(time.perf_counter() - t0, 1)}
