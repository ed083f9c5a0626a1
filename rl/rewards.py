"""Rule rewards for GRPO: answer accuracy, language consistency of the reasoning, format.

Every reward is a callable with TRL's signature, `reward(prompts, completions, **columns) ->
list[float]`, and a `__name__`, so the same objects run in kolang's loop and in
`trl.GRPOTrainer` unchanged. Completions may be strings or chat message lists.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from math_verify import parse, verify

from kolang.analysis.language import script_counts, script_share, strip_nonlinguistic, target_scripts
from kolang.data.answers import ANSWER_LINES, final_value, find_statements, read_gold, split_reasoning
from kolang.errors import ConfigError, RewardError
from kolang.rl.guards import Guards, degenerate, drop_copied, drop_repeated_words

RewardFn = Callable[..., list]

# --- completions and prompts ---------------------------------------------------------------------


def _content(message: dict) -> str:
    content = message.get("content", "")
    if isinstance(content, list):  # multimodal-style parts: [{"type": "text", "text": ...}]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def _messages(value: Any, what: str) -> list[dict]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, (list, tuple)):
        return [m for m in value if isinstance(m, dict)]
    raise RewardError(f"a {what} must be a string or a list of chat messages, got {type(value).__name__}")


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the last assistant message of a chat list."""
    if isinstance(completion, str):
        return completion
    msgs = _messages(completion, "completion")
    asst = [m for m in msgs if m.get("role", "assistant") == "assistant"] or msgs
    return _content(asst[-1]) if asst else ""


def prompt_text(prompt: Any) -> str:
    """The text of one prompt: a string, or every system and user message of a chat list."""
    if prompt is None or isinstance(prompt, str):
        return prompt or ""
    return "\n".join(_content(m) for m in _messages(prompt, "prompt") if m.get("role", "user") != "assistant")


def _column(columns: dict, name: str, n: int, reward: str) -> list:
    """A dataset column passed by keyword, checked to hold one value per completion."""
    if name not in columns or columns[name] is None:
        raise RewardError(f"reward '{reward}' needs a '{name}' column in every record")
    values = list(columns[name])
    if len(values) != n:
        raise RewardError(f"reward '{reward}': column '{name}' has {len(values)} values for {n} completions")
    return values


# --- accuracy ----------------------------------------------------------------------------------


class _DropTimeoutNotice(logging.Filter):
    # math-verify warns on every call when its signal.alarm timeout is off; off the main thread it
    # must be off (signals only reach the main thread), so the notice is noise.
    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_DropTimeoutNotice())


def _parse(text: str) -> list:
    # Timeouts use signal.alarm, which only works on the main thread; TRL may call rewards from
    # worker threads, so they are disabled (math-verify README).
    return parse(text, parsing_timeout=None)


class AccuracyReward:
    """1.0 when the one value a completion states as its answer equals the record's `answer`, else 0.0.

    The answer is read by `kolang.data.answers`: the final answer statement or `\\boxed{}`, else the
    last sentence that holds a number. Several values (a hedge, a list of digits) or a malformed
    number ("3,5") score 0. Numbers compare exactly (0.5 = 1/2 = \\frac{1}{2}, 1,234 = 1234,
    12개 = 12); when either side is an expression (\\sqrt{2}, 2\\pi) math-verify decides.
    """

    __name__ = "accuracy"

    def __init__(self, column: str = "answer") -> None:
        self.column = column

    def score(self, completion: str, gold: Any) -> float:
        """Score one completion text against one gold answer."""
        pred = final_value(completion)
        if pred is None:
            return 0.0
        want = read_gold(gold)
        if isinstance(pred, Fraction) and isinstance(want, Fraction):
            return float(pred == want)
        gold_s = str(gold).strip()
        gold_p = _parse(f"${gold_s}$") or _parse(gold_s)  # as LaTeX first: plain parsing reads "2\pi" as 2
        pred_p = _parse(f"${pred}$")
        return float(bool(gold_p and pred_p) and verify(gold_p, pred_p, timeout_seconds=None))

    def __call__(self, prompts: Sequence, completions: Sequence, **columns: Any) -> list[float]:
        golds = _column(columns, self.column, len(completions), self.__name__)
        return [self.score(completion_text(c), g) for c, g in zip(completions, golds)]


# --- language consistency ------------------------------------------------------------------------


class LanguageConsistencyReward:
    """Share of the reasoning's own letters in the target language, in [0, 1], guarded against hacks.

    The final answer statement is removed first, then what a reader never sees (HTML comments,
    hidden elements, invisible characters), code, math, markdown, numbers and symbols
    (`strip_nonlinguistic`), then the spans copied from the prompt (`guards.drop_copied`): an echoed
    question is in the question's language, not the model's. Scores 0 when fewer than `min_letters`
    letters remain (pure math or code, empty, all copied) or the text is degenerate repetition
    (`guards.degenerate`). `mode="continuous"` returns the share (DeepSeek-R1's language-consistency
    reward, arXiv:2501.12948); `"threshold"` returns 1.0 when the share reaches `threshold`, else 0.0.
    `target=None` reads each record's `lang` column.
    """

    __name__ = "language"

    def __init__(self, target: str | None = "ko", min_letters: int = 5, mode: str = "continuous",
                 threshold: float = 0.9, min_distinct: float = 0.3, max_top_share: float = 0.5,
                 ngram: int = 3, max_ngram_share: float = 0.6, min_compression: float = 0.12,
                 guards: Guards | None = None) -> None:
        if mode not in ("continuous", "threshold"):
            raise ConfigError(f"language reward mode must be 'continuous' or 'threshold', not '{mode}'")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"language reward threshold must lie in [0, 1], got {threshold}")
        if target is not None:
            target_scripts(target)  # validate early
        self.target, self.min_letters, self.mode, self.threshold = target, min_letters, mode, threshold
        self.guards = guards or Guards(min_distinct=min_distinct, max_top_share=max_top_share, ngram=ngram,
                                       max_ngram_share=max_ngram_share, min_compression=min_compression)

    def explain(self, completion: str, target: str | None = None, prompt: str = "") -> tuple[float, str]:
        """(score, reason) for one completion text; the reason says which guard fired, if any."""
        reasoning, _ = split_reasoning(completion)
        text = strip_nonlinguistic(reasoning)
        own = drop_repeated_words(drop_copied(text, prompt) if prompt else text, self.guards)
        counts = script_counts(own)
        if sum(counts.values()) < self.min_letters:
            left_out = sum(script_counts(text).values()) >= self.min_letters
            return 0.0, f"fewer than {self.min_letters} letters" + (" not copied or repeated" if left_out else "")
        why = degenerate(own, reasoning, self.guards)
        if why:
            return 0.0, why
        share = script_share(counts, target_scripts(target or self.target or "ko")) or 0.0
        if self.mode == "threshold":
            return (1.0 if share >= self.threshold else 0.0), "threshold"
        return share, "share"

    def __call__(self, prompts: Sequence | None, completions: Sequence, **columns: Any) -> list[float]:
        targets = ([self.target] * len(completions) if self.target is not None
                   else _column(columns, "lang", len(completions), self.__name__))
        if prompts is None:
            prompts = [""] * len(completions)
        elif len(prompts) != len(completions):
            raise RewardError(f"reward '{self.__name__}' got {len(prompts)} prompts for {len(completions)} completions")
        return [self.explain(completion_text(c), t, prompt_text(p))[0]
                for c, t, p in zip(completions, targets, prompts)]


# --- format --------------------------------------------------------------------------------------


class FormatReward:
    """1.0 for reasoning followed by exactly one answer statement, as the last sentence; else 0.0.

    `lang` fixes the expected answer-line form ("en": `The answer is N.`, "ko": `답은 N입니다.`);
    None accepts either, "record" reads each record's `lang` column.
    """

    __name__ = "format"

    def __init__(self, lang: str | None = None, min_reasoning_chars: int = 1) -> None:
        if lang not in (None, "record", *ANSWER_LINES):
            raise ConfigError(f"format reward lang must be one of {', '.join(ANSWER_LINES)}, 'record' or None")
        self.lang, self.min_reasoning_chars = lang, min_reasoning_chars

    def score(self, text: str, lang: str | None) -> float:
        """Score one completion text."""
        statements = [s for s in find_statements(text) if s.form != "boxed"]
        if len(statements) != 1:
            return 0.0
        s = statements[0]
        if not s.answer_line or (lang in ANSWER_LINES and s.form != lang):
            return 0.0
        if text[s.end:].strip() or len(text[: s.start].strip()) < self.min_reasoning_chars:
            return 0.0
        return 1.0

    def __call__(self, prompts: Sequence, completions: Sequence, **columns: Any) -> list[float]:
        if self.lang == "record":
            langs = _column(columns, "lang", len(completions), self.__name__)
        else:
            langs = [self.lang] * len(completions)
        return [self.score(completion_text(c), lang) for c, lang in zip(completions, langs)]


# --- combination ---------------------------------------------------------------------------------


def reward_name(fn: Any) -> str:
    """The name a reward is logged under."""
    return getattr(fn, "__name__", None) or type(fn).__name__


def checked(name: str, values: Any, n: int) -> list[float]:
    """`values` as floats, or `RewardError` naming the reward if it is not n finite numbers."""
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError) as e:
        raise RewardError(f"reward '{name}' returned a value that is not a number ({e})") from e
    if len(out) != n:
        raise RewardError(f"reward '{name}' returned {len(out)} values for {n} completions")
    bad = [i for i, v in enumerate(out) if not math.isfinite(v)]
    if bad:
        raise RewardError(f"reward '{name}' returned {out[bad[0]]} for completion {bad[0]}; rewards must be finite")
    return out


class WeightedReward:
    """A weighted sum of rewards; each is validated and its values kept in `last` for logging."""

    __name__ = "reward"

    def __init__(self, rewards: Sequence[RewardFn], weights: Sequence[float] | None = None) -> None:
        if not rewards:
            raise ConfigError("give at least one reward")
        weights = [1.0] * len(rewards) if weights is None else list(weights)
        if len(weights) != len(rewards):
            raise ConfigError(f"{len(weights)} reward weights for {len(rewards)} rewards")
        names = [reward_name(r) for r in rewards]
        if len(set(names)) != len(names):
            raise ConfigError(f"reward names must be distinct, got {names}")
        self.rewards, self.weights, self.names = list(rewards), weights, names
        self.last: dict[str, list[float]] = {}

    def components(self, prompts: Sequence, completions: Sequence, **columns: Any) -> dict[str, list[float]]:
        """Each reward's validated values, by name."""
        out = {}
        for name, fn in zip(self.names, self.rewards):
            try:
                values = fn(prompts=prompts, completions=completions, **columns)
            except RewardError:
                raise
            except Exception as e:
                raise RewardError(f"reward '{name}' raised {type(e).__name__}: {e}") from e
            out[name] = checked(name, values, len(completions))
        return out

    def __call__(self, prompts: Sequence, completions: Sequence, **columns: Any) -> list[float]:
        self.last = self.components(prompts, completions, **columns)
        return [sum(w * self.last[n][i] for n, w in zip(self.names, self.weights)) for i in range(len(completions))]
