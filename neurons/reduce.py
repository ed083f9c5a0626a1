"""One layer's forward folded into per-language sums: the arithmetic every statistics backend shares.

The hook accumulator (`kolang.neurons.stats`) calls `fold` inside the forward and the nnsight
backend calls it inside a trace, so both compute the same numbers in the same order. This module
imports torch alone: nnsight ships it by value with a remote request (`nnsight.register`), and the
server that runs the trace has torch but not kolang.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class BatchMasks:
    """Which tokens count and which language each row is, in the forms `fold` multiplies by."""

    mask: torch.Tensor  # (B, T) bool — counted tokens (real, non-special; packed: every position)
    lang: torch.Tensor  # (B,) int64 — language index of each row
    weight: torch.Tensor  # (B, 1, T) float32 — 1 on counted tokens
    onehot: torch.Tensor  # (G, B) float32 — row b belongs to language g
    work: torch.Tensor | None = None  # float32 scratch the size of one layer's values, shared by its layers

    def scratch(self, like: torch.Tensor) -> torch.Tensor:
        """A float32 tensor shaped like `like`, reused by every layer of the batch: a fresh one a layer cost
        more than the sums themselves (a first write faults its pages in; 2.7x the fold at 4k tokens x 4864)."""
        if self.work is None or self.work.numel() < like.numel() or self.work.device != like.device:
            self.work = torch.empty(like.numel(), device=like.device)
        return self.work[: like.numel()].view(like.shape)

    @classmethod
    def make(cls, mask: torch.Tensor, lang: torch.Tensor, num_languages: int) -> "BatchMasks":
        # Summing rows by language with a (G, B) product rather than index_add_ avoids a scatter
        # that is slow on CPU.
        onehot = (lang[None, :] == torch.arange(num_languages, device=lang.device)[:, None]).float()
        return cls(mask, lang, mask.unsqueeze(1).to(torch.float32), onehot)

    def to(self, device: torch.device) -> "BatchMasks":
        return BatchMasks(*(t.to(device) for t in (self.mask, self.lang, self.weight, self.onehot)))


@torch.no_grad()  # a trace runs the model with grad on (remotely, too): nothing here is differentiated
def fold(acc: torch.Tensor, value: torch.Tensor, act: torch.Tensor | None, b: BatchMasks) -> torch.Tensor:
    """Add one layer's batch into `acc` (3, G, W) float64 (sum, sum of squares, active count); returns
    the (B, W) per-row sums of the counted values (for per-text means).

    `value` (B, T, W) is the down projection's input; a neuron is active where `act` (act(gate), same
    shape) is > 0, or where `value` is for ungated MLPs. Every tensor must be on `acc`'s device.
    """
    v = value.float()  # (B, T, W)
    flag = act if act is not None else value  # active where > 0
    if torch.get_float32_matmul_precision() == "highest":
        # Masked sums over the sequence as (1, T) @ (T, W) products: one read of each tensor and
        # no masked copy (masking and a bool sum over T were most of the cost of a hooked
        # forward on CPU). Padding gets weight 0; its values are finite in right-padded batches.
        rows = torch.empty(3, v.shape[0], 1, v.shape[2], device=v.device)  # (3, B, 1, W)
        work = b.scratch(v)
        torch.bmm(b.weight, v, out=rows[0])
        torch.bmm(b.weight, torch.mul(v, v, out=work), out=rows[1])
        # Counts of 0/1 summed in float32 are exact integers below 2**24 tokens a batch.
        torch.bmm(b.weight, torch.gt(flag, 0, out=work), out=rows[2])  # 1.0 where active
        acc += b.onehot @ rows.squeeze(2)  # (3, G, W), accumulated in float64
        return rows[0, :, 0]  # (B, W)
    # TF32/bf16 matmuls would round the values: reduce element-wise instead.
    m = b.mask.unsqueeze(-1)  # (B, T, 1)
    v = v.masked_fill(~m, 0.0)
    row_sum = v.sum(1)  # (B, W)
    rows = torch.stack([row_sum, (v * v).sum(1), ((flag > 0) & m).sum(1).float()], 1)  # (B, 3, W)
    acc.index_add_(1, b.lang, rows.double().transpose(0, 1))
    return row_sum
