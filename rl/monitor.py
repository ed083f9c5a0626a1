"""Collapse monitor: does the model still reason in the target language?

Under RL on answer accuracy alone, reasoning drifts to the language the model reasons best in
(cross-lingual collapse, Park et al. 2025, arXiv:2506.05850). The monitor tracks, each step, the
target-language share of the thought for target-language prompts, and reports a collapse when the
share falls below a bound or drops by a set amount from its first-step value. A reasoning model can
answer in Korean while it thinks in English, so the shares of thought and of answer are measured
apart (`kolang.data.thought`), and the monitor bounds whichever one it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kolang.analysis.language import language_ratio, target_scripts
from kolang.data.thought import split_thought


def target_share(texts: Sequence[str], langs: Sequence[str | None], target: str, part: str = "thought",
                 opened: bool | None = None) -> float | None:
    """Mean target-language share of one part ("thought", "answer", "both": `thought.Split.part`) of the
    completions whose prompt is in `target`.

    Records without a language count as target-language prompts; completions with no letters
    left after stripping are skipped. None when nothing was measured.
    """
    want = set(target_scripts(target))
    shares = []
    for text, lang in zip(texts, langs):
        if lang is not None and set(target_scripts(lang)) != want:
            continue
        r = language_ratio(split_thought(text, opened).part(part), target)
        if r is not None:
            shares.append(r)
    return sum(shares) / len(shares) if shares else None


@dataclass
class CollapseMonitor:
    """Tracks the share step by step; `update` returns a message when a bound is crossed."""

    min_share: float | None = None
    max_drop: float | None = None
    start: float | None = None  # share at the first measured step
    best: float | None = None  # best share at a checkpoint
    best_step: int | None = None  # that checkpoint's step

    def update(self, step: int, share: float | None) -> str | None:
        """Record this step's share; a message saying which bound was crossed, else None."""
        if share is None:
            return None
        if self.start is None:
            self.start = share
        if self.min_share is not None and share < self.min_share:
            return f"step {step}: target-language share {share:.3f} fell below {self.min_share:.3f}"
        if self.max_drop is not None and self.start - share > self.max_drop:
            return (f"step {step}: target-language share {share:.3f} dropped {self.start - share:.3f} "
                    f"from {self.start:.3f} (allowed {self.max_drop:.3f})")
        return None

    def checkpointed(self, step: int, share: float | None) -> None:
        """Note a checkpoint written at `step` with the share measured there (the rollback target)."""
        if share is not None and (self.best is None or share >= self.best):
            self.best, self.best_step = share, step

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
