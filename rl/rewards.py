"""Rule rewards for GRPO: answer accuracy, language consistency of the thought, answer format, thought format.

Every reward is a callable with TRL's signature, `reward(prompts, completions, **columns) ->
list[float]`, and a `__name__`, so the same objects run in kolang's loop and in
`trl.GRPOTrainer` unchanged. Completions may be strings or chat message lists. A reasoning model's
completion is split into its thought (`<think>…</think>`) and its answer (`kolang.data.thought`):
accuracy reads the answer, the language reward the thought (or the answer, or both), the
think-format reward the structure; a completion without a block is all answer, its reasoning the thought.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from kolang.analysis.language import language_path, language_pieces, script_counts, target_letters, target_scripts
from kolang.data.answers import ANSWER_LINES, final_statement, find_statements
from kolang.data.grading import is_correct
from kolang.data.thought import PARTS, split_thought
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


class AccuracyReward:
    """1.0 when the one value the answer part of a completion states equals the record's `answer`, else 0.0.

    The answer part is what follows the thought block (the whole completion without one; nothing when
    the block never closes). Its answer is read by `kolang.data.answers`: the final answer statement or
    `\\boxed{}`, else the last sentence that holds a number. Several values (a hedge, a list of digits)
    or a malformed number ("3,5") score 0. Numbers compare exactly (0.5 = 1/2 = \\frac{1}{2}, 1,234 =
    1234, 12개 = 12); when either side is an expression (\\sqrt{2}, 2\\pi) math-verify decides
    (`kolang.data.grading`). `opened=True` says the prompts end inside an open `<think>` block.
    """

    __name__ = "accuracy"

    def __init__(self, column: str = "answer", opened: bool | None = None) -> None:
        self.column, self.opened = column, opened

    def score(self, completion: str, gold: Any) -> float:
        """Score one completion text against one gold answer."""
        return float(is_correct(split_thought(completion, self.opened).answer, gold))

    def __call__(self, prompts: Sequence, completions: Sequence, **columns: Any) -> list[float]:
        golds = _column(columns, self.column, len(completions), self.__name__)
        return [self.score(completion_text(c), g) for c, g in zip(completions, golds)]


# --- language consistency ------------------------------------------------------------------------


class LanguageConsistencyReward:
    """Share of the thought's own letters in the target language, in [0, 1], guarded against hacks.

    `part` chooses what is scored: "thought" (the `<think>` block, or for a completion without one its
    text without the final answer statement), "answer" (what follows the block, without its final
    statement) or "both". Removed first: what a reader never sees (HTML comments, hidden elements,
    invisible characters), code, math, markdown, numbers and symbols (`strip_nonlinguistic`), then the
    spans copied from the prompt (`guards.drop_copied`): an echoed question is in the question's
    language, not the model's. Scores 0 when fewer than `min_letters` letters remain (pure math or
    code, empty, all copied) or the text is degenerate repetition (`guards.degenerate`). Letters are
    counted by script, or sentence by sentence by a language identifier for targets that share their
    script (`analysis.language.language_path`, reported by `path` and `explain`). `mode="continuous"`
    returns the share (DeepSeek-R1's language-consistency reward, arXiv:2501.12948); `"threshold"`
    returns 1.0 when the share reaches `threshold`, else 0.0. `target=None` reads each record's `lang`.
    """

    __name__ = "language"

    def __init__(self, target: str | None = "ko", min_letters: int = 5, mode: str = "continuous",
                 threshold: float = 0.9, min_distinct: float = 0.3, max_top_share: float = 0.5,
                 ngram: int = 3, max_ngram_share: float = 0.6, min_compression: float = 0.12,
                 guards: Guards | None = None, part: str = "thought", opened: bool | None = None) -> None:
        if mode not in ("continuous", "threshold"):
            raise ConfigError(f"language reward mode must be 'continuous' or 'threshold', not '{mode}'")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"language reward threshold must lie in [0, 1], got {threshold}")
        if part not in PARTS:
            raise ConfigError(f"language reward part must be one of {', '.join(PARTS)}, not '{part}'")
        if target is not None:
            target_scripts(target)  # validate early
        self.target, self.min_letters, self.mode, self.threshold = target, min_letters, mode, threshold
        self.part, self.opened = part, opened
        self.guards = guards or Guards(min_distinct=min_distinct, max_top_share=max_top_share, ngram=ngram,
                                       max_ngram_share=max_ngram_share, min_compression=min_compression)

    def path(self, target: str | None = None) -> str:
        """How the share of `target` (default: the reward's) is measured: "script" or the identifier's name."""
        return language_path(target or self.target or "ko")

    def explain(self, completion: str, target: str | None = None, prompt: str = "") -> tuple[float, str]:
        """(score, reason) for one completion text; the reason says which guard fired, if any, or the path
        the share was measured by ("share by script")."""
        target = target or self.target or "ko"
        text = split_thought(completion, self.opened).part(self.part)
        pieces = language_pieces(text, target)
        own = [w for p in pieces if (w := drop_repeated_words(drop_copied(p, prompt) if prompt else p, self.guards))]
        words = " ".join(own)
        counts = script_counts(words)
        if sum(counts.values()) < self.min_letters:
            left_out = sum(script_counts(" ".join(pieces)).values()) >= self.min_letters
            return 0.0, f"fewer than {self.min_letters} letters" + (" not copied or repeated" if left_out else "")
        why = degenerate(words, text, self.guards)
        if why:
            return 0.0, why
        hit, total = target_letters(own, target)
        share = hit / total if total else 0.0
        if self.mode == "threshold":
            return (1.0 if share >= self.threshold else 0.0), f"threshold by {self.path(target)}"
        return share, f"share by {self.path(target)}"

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

    For a completion with a thought block, the answer part is checked and the thought counts as
    reasoning. `lang` fixes the expected answer-line form ("en": `The answer is N.`, "ko": `답은 N입니다.`);
    None accepts either, "record" reads each record's `lang` column.
    """

    __name__ = "format"

    def __init__(self, lang: str | None = None, min_reasoning_chars: int = 1, opened: bool | None = None) -> None:
        if lang not in (None, "record", *ANSWER_LINES):
            raise ConfigError(f"format reward lang must be one of {', '.join(ANSWER_LINES)}, 'record' or None")
        self.lang, self.min_reasoning_chars, self.opened = lang, min_reasoning_chars, opened

    def score(self, text: str, lang: str | None) -> float:
        """Score one completion text."""
        split = split_thought(text, self.opened)
        text = split.answer
        statements = [s for s in find_statements(text) if s.form != "boxed"]
        if len(statements) != 1:
            return 0.0
        s = statements[0]
        if not s.answer_line or (lang in ANSWER_LINES and s.form != lang):
            return 0.0
        reasoning = len(text[: s.start].strip()) + len(split.thought or "")
        if text[s.end:].strip() or reasoning < self.min_reasoning_chars:
            return 0.0
        return 1.0

    def __call__(self, prompts: Sequence, completions: Sequence, **columns: Any) -> list[float]:
        if self.lang == "record":
            langs = _column(columns, "lang", len(completions), self.__name__)
        else:
            langs = [self.lang] * len(completions)
        return [self.score(completion_text(c), lang) for c, lang in zip(completions, langs)]


class ThinkFormatReward:
    """1.0 for a completion that is one thought block, closed and not empty, followed by an answer; else 0.0.

    The block is `<think>…</think>` (or a closing tag alone, when the prompt pre-filled the opening one,
    as R1 templates do); the answer after it must state a value (an answer statement or `\\boxed{}`). A
    block cut off at the length limit, a second block, an empty thought, or no block at all scores 0.
    """

    __name__ = "think_format"

    def __init__(self, min_thought_chars: int = 1, opened: bool | None = None) -> None:
        self.min_thought_chars, self.opened = min_thought_chars, opened

    def score(self, text: str) -> float:
        """Score one completion text."""
        s = split_thought(text, self.opened)
        ok = (s.closed and s.blocks == 1 and len(s.thought or "") >= self.min_thought_chars
              and final_statement(s.answer) is not None)
        return float(ok)

    def __call__(self, prompts: Sequence, completions: Sequence, **columns: Any) -> list[float]:
        return [self.score(completion_text(c)) for c in completions]


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
