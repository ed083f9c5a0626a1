"""Batching shared by every stage: token-budget batches of variable-length texts, fixed windows
packed from a token stream, and prompt + completion batches labelled for a loss on the completion
only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from kolang.errors import ModelError


def token_batches(lengths: Sequence[int], token_budget: int, max_batch: int = 256) -> list[list[int]]:
    """Group indices so that batch_size x longest <= token_budget; longest first, so peak memory comes early."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = lengths[cur[0]] if cur else lengths[i]
        if cur and ((len(cur) + 1) * longest > token_budget or len(cur) >= max_batch):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


@dataclass
class Batch:
    """A right-padded batch: which texts it holds and the masks a forward and a reduction need."""

    index: list[int]  # positions of the rows in the caller's text list
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T) 1 on real tokens
    counted: torch.Tensor  # (B, T) bool: real, non-special tokens (padding and BOS/EOS excluded)


def encoded_batches(
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int = 512,
    token_budget: int = 16384,
    max_batch: int = 256,
    chunk_texts: int = 4096,
) -> Iterator[Batch]:
    """Tokenise `texts` chunk by chunk and yield padded batches within the token budget.

    A non-blank text that encodes to no tokens raises `ModelError` (the tokenizer is wrong for the model).
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # Special tokens carry no language, whether the tokenizer added them or the text holds them.
    special_ids = torch.tensor(sorted(getattr(tokenizer, "all_special_ids", []) or []), dtype=torch.long)
    for start in range(0, len(texts), chunk_texts):
        ids, special = _encode(tokenizer, texts, start, chunk_texts, truncation=True, max_length=max_length)
        lengths = [len(x) for x in ids]
        for rows in token_batches(lengths, token_budget, max_batch):
            T = max(lengths[j] for j in rows)
            input_ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
            attn = torch.zeros((len(rows), T), dtype=torch.long)
            counted = torch.zeros((len(rows), T), dtype=torch.bool)
            for r, j in enumerate(rows):
                n = lengths[j]
                input_ids[r, :n] = torch.tensor(ids[j])
                attn[r, :n] = 1
                counted[r, :n] = ~torch.tensor(special[j], dtype=torch.bool)
            counted &= ~torch.isin(input_ids, special_ids)
            yield Batch([start + j for j in rows], input_ids, attn, counted)


def packed_windows(tokenizer, texts: Sequence[str], groups: Sequence[int], *, window: int,
                   chunk_texts: int = 4096) -> Iterator[tuple[int, torch.Tensor]]:
    """(group, (window,) token ids): each group's texts encoded in order, concatenated, cut into windows.

    RUCAIBox's activation.py reads a language this way: one stream of token ids reshaped into
    fixed-length rows, the remainder dropped, so a window may span several texts and a text several
    windows. Texts are encoded as the tokenizer does by default (special tokens it adds per text,
    such as Llama's BOS, stay in the stream). Only the unfinished window of each group is held.
    """
    pending: dict[int, list[int]] = {}
    for start in range(0, len(texts), chunk_texts):
        ids, _ = _encode(tokenizer, texts, start, chunk_texts, verbose=False)  # no truncation: windows cut
        for j, row in enumerate(ids):
            group = groups[start + j]
            buf = pending.setdefault(group, [])
            buf.extend(row)
            full = len(buf) // window
            for w in range(full):
                yield group, torch.tensor(buf[w * window : (w + 1) * window], dtype=torch.long)
            del buf[: full * window]


def _encode(tokenizer, texts: Sequence[str], start: int, chunk_texts: int, **kw) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids and special-token masks of texts[start : start + chunk_texts], with the tokenizer's special tokens.

    A non-blank text that encodes to no tokens means the tokenizer is wrong for the model: it
    raises `ModelError` rather than yielding nothing.
    """
    chunk = list(texts[start : start + chunk_texts])
    enc = tokenizer(chunk, add_special_tokens=True, return_special_tokens_mask=True, **kw)
    ids, special = enc["input_ids"], enc["special_tokens_mask"]
    for j, row in enumerate(ids):
        if len(row) - sum(special[j]) <= 0 and chunk[j].strip():  # encoded to nothing but added specials
            raise ModelError(
                f"the tokenizer encodes text {start + j} ({chunk[j][:40]!r}) to no tokens; "
                "check the tokenizer class the model directory declares"
            )
    return ids, special


IGNORE = -100  # label of tokens a loss skips (torch's cross_entropy ignore_index default)


def completion_batch(seqs: Sequence[tuple[Sequence[int], int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (input_ids, attention_mask, labels), each (B, T), of (token ids, prompt length) pairs.

    Labels are the ids on each completion and `IGNORE` on its prompt and on padding, so a loss or NLL
    over them reads only what the model would write. Organism training, SFT and the reasoning NLL of
    evaluation all batch this way.
    """
    T = max(len(ids) for ids, _ in seqs)
    input_ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    labels = torch.full((len(seqs), T), IGNORE, dtype=torch.long)
    for b, (ids, n_prompt) in enumerate(seqs):
        row = torch.as_tensor(list(ids), dtype=torch.long)
        input_ids[b, :len(row)] = row
        mask[b, :len(row)] = 1
        labels[b, n_prompt:len(row)] = row[n_prompt:]
    return input_ids, mask, labels


def completion_nll(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy over the labelled (completion) tokens; logits (B, T, V), labels (B, T)."""
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                             ignore_index=IGNORE, reduction=reduction)
