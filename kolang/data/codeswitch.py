"""Self-correcting, code-switched reasoning traces for masked SFT.

Each trace reasons step by step, may make a plausible arithmetic slip, notices it and corrects it,
switching between English and Korean at sentence level (and, in the noticing sentence, at clause
level), and always ends with its last steps and the answer in Korean. Training on them teaches the
early-layer Korean neurons to carry reasoning that *returns* to Korean after drifting to English,
the behaviour the cross-lingual collapse papers see RL erode (Park et al. 2025, "Cross-lingual
Collapse"), and models an explicit self-correction turn as in s1/"aha" traces.

    records = codeswitch_records(generate(500, seed=0), CodeSwitchConfig(error_rate=0.5))
    write_jsonl("cs.jsonl", records)   # {"prompt", "completion"} lines for `kolang tune --data`
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from kolang.data.tasks import Problem, answer_line, render_step
from kolang.errors import ConfigError

_OPEN = {"ko": "차근차근 풀어 보겠습니다.", "en": "Let me solve this step by step."}
# Noticing the slip: one language, or a clause-level switch inside the sentence.
_NOTICE = {
    "ko": ("잠깐, 틀렸습니다. 다시 계산해 보겠습니다.", "아, 계산이 잘못되었습니다. 다시 확인하겠습니다."),
    "en": ("Wait, that is wrong. Let me recompute.", "Hmm, that does not look right. Let me check it again."),
    "mixed": ("Wait, 다시 계산해 보겠습니다.", "잠깐, that is not right, 다시 확인해 봅시다.", "Hmm, 계산이 틀렸네요, let me redo it."),
}
_CORRECT = {"ko": "다시 하면, {step}", "en": "Correctly, {step}"}
_CONCLUDE = "따라서 {line}"  # the answer line is always Korean


@dataclass(frozen=True)
class CodeSwitchConfig:
    """How traces are built; one seed gives the same traces."""

    error_rate: float = 0.5
    """Share of traces that make one plausible mistake and then correct it."""
    switch_rate: float = 0.5
    """Chance that each sentence before the Korean ending is written in English (the switch points)."""
    clause_switch: float = 0.3
    """Chance that a noticing sentence switches language mid-sentence (clause-level switching)."""
    korean_tail: int = 1
    """How many final solution steps are always in Korean (the answer line always is)."""
    prompt_lang: str = "ko"
    """Language of the question given as the prompt."""
    seed: int = 0
    """Seed of every random choice."""

    def __post_init__(self) -> None:
        for name in ("error_rate", "switch_rate", "clause_switch"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.korean_tail < 0:
            raise ConfigError(f"korean_tail must be >= 0, got {self.korean_tail}")
        if self.prompt_lang not in ("ko", "en"):
            raise ConfigError(f"prompt_lang must be ko or en, got '{self.prompt_lang}'")


@dataclass(frozen=True)
class Trace:
    """One built trace and what went into it."""

    prompt: str
    completion: str
    sentences: tuple[tuple[str, str], ...]  # (language: "ko" | "en" | "mixed", sentence)
    mistake_step: int | None  # index of the step that was first got wrong, None if none

    def record(self) -> dict[str, str]:
        """The `{"prompt", "completion"}` SFT record."""
        return {"prompt": self.prompt, "completion": self.completion}


def plausible_wrong(op: str, a: int, b: int, result: int, rng: random.Random) -> int:
    """A wrong result a person could write: off by one or ten, or a neighbouring times-table entry."""
    choices = [result + 1, result - 1, result + 10, result - 10]
    if op == "mul":
        choices += [a * (b + 1), a * (b - 1)]
    choices = [c for c in choices if c != result and c >= 0]
    return rng.choice(choices)


def build_trace(problem: Problem, cfg: CodeSwitchConfig, rng: random.Random) -> Trace:
    """One self-correcting code-switched trace for `problem`."""
    n = len(problem.ops)
    tail_from = max(0, n - cfg.korean_tail)
    pick = lambda: "en" if rng.random() < cfg.switch_rate else "ko"  # noqa: E731
    mistake = rng.randrange(n) if rng.random() < cfg.error_rate else None
    out: list[tuple[str, str]] = [(pick(), "")]
    out[0] = (out[0][0], _OPEN[out[0][0]])
    for i, (op, a, b, r) in enumerate(problem.ops):
        lang = "ko" if i >= tail_from else pick()
        if i == mistake:
            out.append((lang, render_step(lang, op, a, b, plausible_wrong(op, a, b, r, rng))))
            kind = "mixed" if rng.random() < cfg.clause_switch else pick()
            out.append((kind, rng.choice(_NOTICE[kind])))
            fix = "ko" if i >= tail_from else pick()
            out.append((fix, _CORRECT[fix].format(step=render_step(fix, op, a, b, r))))
        else:
            out.append((lang, render_step(lang, op, a, b, r)))
    out.append(("ko", _CONCLUDE.format(line=answer_line("ko", problem.answer))))
    return Trace(problem.question[cfg.prompt_lang], " ".join(s for _, s in out), tuple(out), mistake)


def build_traces(problems: Sequence[Problem], cfg: CodeSwitchConfig = CodeSwitchConfig()) -> list[Trace]:
    """A trace per problem, seeded by `cfg.seed`."""
    rng = random.Random(cfg.seed)
    return [build_trace(p, cfg, rng) for p in problems]


def codeswitch_records(problems: Sequence[Problem], cfg: CodeSwitchConfig = CodeSwitchConfig()) -> list[dict[str, str]]:
    """`{"prompt", "completion"}` records of self-correcting code-switched traces (write with `write_jsonl`)."""
    return [t.record() for t in build_traces(problems, cfg)]
