"""Balanced online difficulty filtering: train only on groups that are neither solved nor hopeless.

A group whose completions all score the same accuracy has zero advantage and only dilutes the
batch. Following DAPO's dynamic sampling (Yu et al. 2025, arXiv:2503.14476 §3.2) and the online
filtering of Bae et al. 2025 (arXiv:2504.03380), groups whose accuracy lies outside
(low, high) are dropped and more prompts are sampled until the batch is full or a bounded number
of rounds is spent.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from kolang.errors import KolangError


class AllFilteredError(KolangError):
    """Every sampled group was filtered out for a whole step."""


def keep_groups(accuracy: torch.Tensor, group_size: int, low: float, high: float) -> torch.Tensor:
    """Bool (P,) of groups whose mean accuracy lies strictly inside (low, high); accuracy is (P*G,)."""
    acc = accuracy.float().view(-1, group_size).mean(dim=1)  # (P,)
    return (acc > low) & (acc < high)


@dataclass
class Filled:
    """The groups kept for one step and how many were looked at."""

    groups: list[Any] = field(default_factory=list)  # whatever `sample` returns, one item a kept group
    seen: int = 0
    rounds: int = 0

    @property
    def kept_fraction(self) -> float:
        return len(self.groups) / self.seen if self.seen else 0.0


def fill_batch(sample: Callable[[int, int], tuple[list[Any], torch.Tensor]], need: int, rounds: int,
               enabled: bool = True, on_empty: str = "error", step: int = 0) -> Filled:
    """Call `sample(n, round)` -> (groups, keep mask) until `need` groups are kept or `rounds` are spent.

    Each round asks for the number of groups still missing. With `enabled=False` one round keeps
    everything. No kept group at all raises `AllFilteredError` (`on_empty="error"`) or warns
    (`"skip"`) and returns an empty batch.
    """
    filled = Filled()
    while len(filled.groups) < need and filled.rounds < (rounds if enabled else 1):
        groups, keep = sample(need - len(filled.groups), filled.rounds)
        filled.rounds += 1
        filled.seen += len(groups)
        filled.groups.extend(g for g, k in zip(groups, keep.tolist()) if k or not enabled)
    filled.groups = filled.groups[:need]
    if not filled.groups:
        msg = (f"step {step}: all {filled.seen} sampled groups were filtered out in {filled.rounds} rounds "
               "(every group solved or every group failed); widen --filter-low/--filter-high, turn filtering "
               "off with --no-filter-groups, or use easier/harder data")
        if on_empty == "error":
            raise AllFilteredError(msg)
        warnings.warn(msg + "; skipping the step", stacklevel=2)
    return filled
