"""Rule rewards for GRPO: answer accuracy, language consistency of the reasoning, format.

Every reward is a callable with TRL's signature, `reward(prompts, completions, **columns) ->
list[float]`, and a `__name__`, so the same objects run in kolang's loop and in
`trl.GRPOTrainer` unchanged. Completions may be strings or chat message lists.
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from math_verify import parse, verify

from kolang.analysis.language import script_counts, script_share, strip_nonlinguistic, target_scripts
from kolang.errors import ConfigError, RewardError

RewardFn = Callable[..., list]

# --- completions and answer lines ---------------------------------------------------------------


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the last assistant message of a chat list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        msgs = [m for m in completion if isinstance(m, dict)]
        asst = [m for m in msgs if m.get("role", "assistant") == "assistant"] or msgs
        if not asst:
            return ""
        content = asst[-1].get("content", "")
        if isinstance(content, list):  # multimodal-style parts: [{"type": "text", "text": ...}]
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content or "")
    raise RewardError(f"a completion must be a string or a list of chat messages, got {type(completion).__name__}")


# kolang's task answer statements, "The answer is N." and "답은 N입니다.", which end a solution as
# its last sentence (kolang.data.tasks). An answer may hold dots only inside numbers ("3.5").
_ANS = r"(?P<ans>(?:[^\n.]|\.(?=\d))+?)"
_SENTENCE_START = r"(?:^|(?<=[.!?])[ \t]+)"
ANSWER_LINES: dict[str, re.Pattern] = {
    "en": re.compile(rf"{_SENTENCE_START}The answer is[ \t]+{_ANS}[ \t]*\.?[ \t]*$", re.M),
    "ko": re.compile(rf"{_SENTENCE_START}답은[ \t]*{_ANS}[ \t]*입니다[ \t]*\.?[ \t]*$", re.M),
}
# Looser forms anywhere in a sentence ("따라서 답은 7입니다"), used to read an answer and to count
# answer statements, never to grant the format reward.
_LOOSE = (
    re.compile(rf"[Tt]he (?:final )?answer is:?[ \t]*{_ANS}[ \t]*(?:\.|$)", re.M),
    re.compile(rf"답은[ \t]*{_ANS}[ \t]*입니다"),
)


def _answer_match(text: str) -> re.Match | None:
    """The last answer statement in `text` (sentence-final forms first, then looser ones)."""
    for patterns in (tuple(ANSWER_LINES.values()), _LOOSE):
        found = [m for p in patterns for m in p.finditer(text)]
        if found:
            return max(found, key=lambda m: m.start())
    return None


def extract_answer(text: str) -> str | None:
    """The answer of a kolang answer line (`The answer is N.` / `답은 N입니다.`), else None.

    Reads the same lines as `kolang.data.tasks.extract_answer` but returns any answer text
    (fractions, decimals, expressions), where the task generator's reader keeps integers only.
    """
    m = _answer_match(text)
    return m.group("ans").strip() if m else None


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Split a completion into (reasoning, answer): the reasoning is the text without its answer line."""
    m = _answer_match(text)
    if m is None:
        return text, None
    return text[: m.start()] + text[m.end():], m.group("ans").strip()


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


class AccuracyReward:
    """1.0 when the completion's answer equals the record's `answer` column (math-verify), else 0.0.

    The answer is read from kolang's answer line when there is one, else math-verify extracts it
    from the whole completion (`\\boxed{}`, last expression), as TRL's `accuracy_reward` does.
    """

    __name__ = "accuracy"

    def __init__(self, column: str = "answer") -> None:
        self.column = column

    @staticmethod
    def _parse(text: str) -> list:

        # Timeouts use signal.alarm, which only works on the main thread; TRL may call rewards
        # from worker threads, so they are disabled (math-verify README).
        return parse(text, parsing_timeout=None)

    def score(self, completion: str, gold: Any) -> float:
        """Score one completion text against one gold answer."""

        gold_s = str(gold).strip()
        answer = extract_answer(completion)
        pred_text = answer if answer is not None else completion
        if answer is not None and _norm(answer) == _norm(gold_s):
            return 1.0
        gold_p = self._parse(gold_s) or self._parse(f"${gold_s}$")
        pred_p = self._parse(pred_text) if answer is None else (self._parse(pred_text) or self._parse(f"${pred_text}$"))
        if not gold_p or not pred_p:
            return 0.0
        return 1.0 if verify(gold_p, pred_p, timeout_seconds=None) else 0.0

    def __call__(self, prompts: Sequence, completions: Sequence, **columns: Any) -> list[float]:
        golds = _column(columns, self.column, len(completions), self.__name__)
        return [self.score(completion_text(c), g) for c, g in zip(completions, golds)]


def _norm(s: str) -> str:
    return re.sub(r"[\s,]", "", s).rstrip(".").lower()


# --- language consistency ------------------------------------------------------------------------


def degenerate(words: Sequence[str], raw: str, min_distinct: float, max_top_share: float,
               ngram: int, max_ngram_share: float, min_compression: float) -> str | None:
    """Why a text is degenerate repetition (a short reason), or None when it is not.

    Cheap guards against reward hacking of a language reward by repeating one target-language word
    or phrase: low distinct-word ratio, one word or n-gram dominating, or text zlib compresses
    to almost nothing.
    """
    n = len(words)
    if n >= 8:
        if len(set(words)) / n < min_distinct:
            return "low distinct-word ratio"
        if Counter(words).most_common(1)[0][1] / n > max_top_share:
            return "one word dominates"
        if n >= 3 * ngram:
            grams = Counter(tuple(words[i: i + ngram]) for i in range(n - ngram + 1))
            if grams.most_common(1)[0][1] * ngram / n > max_ngram_share:
                return "one n-gram dominates"
    data = raw.encode("utf-8")
    if len(data) >= 256 and len(zlib.compress(data, 9)) / len(data) < min_compression:
        return "compresses too well"
    return None


class LanguageConsistencyReward:
    """Share of the reasoning's letters in the target language, in [0, 1], guarded against hacks.

    The final answer line is removed first, then code, math, markdown, numbers and symbols
    (`strip_nonlinguistic`). Scores 0 when fewer than `min_letters` letters remain (pure math or
    code, empty) or the text is degenerate repetition. `mode="continuous"` returns the share
    (DeepSeek-R1's language-consistency reward, arXiv:2501.12948); `"threshold"` returns 1.0 when
    the share reaches `threshold`, else 0.0. `target=None` reads each record's `lang` column.
    """

    __name__ = "language"

    def __init__(self, target: str | None = "ko", min_letters: int = 5, mode: str = "continuous",
                 threshold: float = 0.9, min_distinct: float = 0.3, max_top_share: float = 0.5,
                 ngram: int = 3, max_ngram_share: float = 0.6, min_compression: float = 0.12) -> None:
        if mode not in ("continuous", "threshold"):
            raise ConfigError(f"language reward mode must be 'continuous' or 'threshold', not '{mode}'")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"language reward threshold must lie in [0, 1], got {threshold}")
        if target is not None:
            target_scripts(target)  # validate early
        self.target, self.min_letters, self.mode, self.threshold = target, min_letters, mode, threshold
        self.guards = dict(min_distinct=min_distinct, max_top_share=max_top_share, ngram=ngram,
                           max_ngram_share=max_ngram_share, min_compression=min_compression)

    def explain(self, completion: str, target: str | None = None) -> tuple[float, str]:
        """(score, reason) for one completion text; the reason says which guard fired, if any."""
        reasoning, _ = split_reasoning(completion)
        words = strip_nonlinguistic(reasoning).split()
        counts = script_counts(" ".join(words))
        letters = sum(counts.values())
        if letters < self.min_letters:
            return 0.0, f"fewer than {self.min_letters} letters"
        why = degenerate(words, reasoning, **self.guards)
        if why:
            return 0.0, why
        share = script_share(counts, target_scripts(target or self.target or "ko")) or 0.0
        if self.mode == "threshold":
            return (1.0 if share >= self.threshold else 0.0), "threshold"
        return share, "share"

    def __call__(self, prompts: Sequence, completions: Sequence, **columns: Any) -> list[float]:
        targets = ([self.target] * len(completions) if self.target is not None
                   else _column(columns, "lang", len(completions), self.__name__))
        return [self.explain(completion_text(c), t)[0] for c, t in zip(completions, targets)]


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
        forms = [ANSWER_LINES[lang]] if lang in ANSWER_LINES else list(ANSWER_LINES.values())
        final = [m for p in forms for m in p.finditer(text)]
        statements = sum(1 for p in _LOOSE for _ in p.finditer(text))
        if len(final) != 1 or statements != 1:
            return 0.0
        m = final[0]
        if text[m.end():].strip() or len(text[: m.start()].strip()) < self.min_reasoning_chars:
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
