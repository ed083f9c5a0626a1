"""SFT examples with the loss on the completion only: prompt tokens are labelled `IGNORE` (-100).

A prompt and its completion are tokenised separately and concatenated (`encode_exchange`), so the
boundary between them is exact whatever the tokenizer merges. Samples longer than the max length are skipped and
counted, never truncated: a cut-off completion would teach the model to stop mid-answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from kolang.batching import IGNORE, completion_batch
from kolang.data.chat import encode_exchange
from kolang.errors import DataError


@dataclass
class Encoded:
    """Tokenised SFT samples and how many records were dropped for length."""

    input_ids: list[list[int]]
    prompt_lens: list[int]  # the first prompt_lens[i] tokens of input_ids[i] are the prompt
    skipped: int  # records longer than max_length

    @property
    def labels(self) -> list[list[int]]:
        """Per sample, its ids with `IGNORE` on the prompt tokens."""
        return [[IGNORE] * p + ids[p:] for ids, p in zip(self.input_ids, self.prompt_lens, strict=True)]


def split_record(rec: dict[str, Any], n: int) -> tuple[Any, str]:
    """(prompt, completion) of a `{"prompt","completion"}` or chat `{"messages"}` record (n: its number)."""
    if "messages" in rec:
        msgs = rec["messages"]
        if not isinstance(msgs, list) or not msgs or not isinstance(msgs[-1], dict) \
                or msgs[-1].get("role") != "assistant" or len(msgs) < 2:
            raise DataError(f"record {n}: 'messages' must be a list ending with an assistant message after a prompt")
        bad = [i for i, m in enumerate(msgs, 1) if not isinstance(m, dict) or not isinstance(m.get("content"), str)]
        if bad:
            raise DataError(f"record {n}: message {bad[0]} has no text 'content'")
        return msgs[:-1], msgs[-1]["content"]
    if "prompt" not in rec or "completion" not in rec:
        raise DataError(f"record {n} has neither 'prompt'+'completion' nor 'messages' (has: {', '.join(rec) or 'nothing'})")
    for key in ("prompt", "completion"):
        if not isinstance(rec[key], str):
            raise DataError(f"record {n}: '{key}' is {'null' if rec[key] is None else type(rec[key]).__name__}, "
                            "expected text")
    return rec["prompt"], rec["completion"]


def encode_sft(records: Sequence[dict[str, Any]], tokenizer: Any, max_length: int) -> Encoded:
    """Tokenise records into completion-only-loss samples; raise if none fits in `max_length`."""
    if not records:
        raise DataError("the SFT data holds no records")
    ids_out, prompt_lens, skipped = [], [], 0
    for n, rec in enumerate(records, 1):
        prompt, completion = split_record(rec, n)
        if not completion.strip():
            raise DataError(f"record {n} has an empty completion")
        ids, n_prompt = encode_exchange(tokenizer, prompt, completion)
        if len(ids) > max_length:
            skipped += 1
            continue
        ids_out.append(ids)
        prompt_lens.append(n_prompt)
    if not ids_out:
        raise DataError(f"all {len(records)} samples are longer than max_length={max_length} tokens; "
                        "raise --max-length or shorten the data")
    return Encoded(ids_out, prompt_lens, skipped)


def collate(enc: Encoded, rows: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch of the given rows: input_ids, attention_mask, labels, each (B, T)."""
    ids, att, lab = completion_batch([(enc.input_ids[i], enc.prompt_lens[i]) for i in rows], pad_id)
    return {"input_ids": ids, "attention_mask": att, "labels": lab}
