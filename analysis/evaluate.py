"""Accuracy and the language of thought and of answer of a model on problems, with batched generation.

`evaluate_model` is `kolang eval`: greedy and sampled completions of every problem, scored as the
rewards score them (the answer part graded by `kolang.data.grading`, the thought and the answer
measured by `analysis.language`), each rate with a bootstrap 95% interval over problems. `evaluate`
is the short form the organism's card, the demo and the experiment use on the bundled word problems;
both generate and score through the same functions here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from kolang.analysis.config import EvalConfig
from kolang.analysis.intervals import interval, mean_known
from kolang.analysis.language import language_path, language_ratio
from kolang.batching import IGNORE, completion_batch, completion_nll
from kolang.config import to_dict
from kolang.data.chat import encode_exchange, format_prompt
from kolang.data.grading import is_correct
from kolang.data.tasks import Problem, rl_records
from kolang.data.thought import opens_thought, split_thought
from kolang.generation import eos_ids, sample, stopped_at

Progress = Callable[[int, int], None]  # (completions done, completions in all)


@dataclass(frozen=True)
class Generated:
    """One completion: its text, how many tokens it took (the stop token left out), whether it was cut off."""

    text: str
    tokens: int
    truncated: bool


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[Any], *, n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
             max_new_tokens: int = 96, batch_size: int = 64, seed: int = 0, thinking: bool | None = None,
             progress: Progress | None = None) -> list[Generated]:
    """`n` completions of each chat-formatted prompt (rows grouped by prompt): greedy at temperature 0, else sampled.

    About `batch_size` rows are decoded at once with the KV cache, each prompt prefilled once for its `n`
    samples (`kolang.generation.sample`, as in RL rollouts); a batch's draws depend only on `seed` and
    its position, whatever ran before.
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stops = eos_ids(tokenizer, model)
    per_batch = max(1, batch_size // n)
    was_training = model.training
    model.eval()
    out: list[Generated] = []
    for start in range(0, len(prompts), per_batch):
        ids = [tokenizer(format_prompt(tokenizer, p, thinking), add_special_tokens=False)["input_ids"]
               for p in prompts[start:start + per_batch]]
        new = sample(model, ids, max_new_tokens, stops, pad, n=n, temperature=temperature, top_p=top_p,
                     seed=seed * 1_000_003 + start)  # (batch * n, new tokens)
        lengths, cut = stopped_at(new, stops)
        out += [Generated(t, k, c) for t, k, c in zip(tokenizer.batch_decode(new, skip_special_tokens=True), lengths, cut)]
        if progress is not None:
            progress(len(out), len(prompts) * n)
    model.train(was_training)
    return out


def generate_completions(model, tokenizer, prompts: Sequence[str], *, temperature: float = 0.0,
                         max_new_tokens: int = 96, batch_size: int = 64, seed: int = 0) -> list[str]:
    """Texts of one completion a prompt (`generate`): greedy at temperature 0, else sampled (full vocabulary)."""
    return [g.text for g in generate(model, tokenizer, prompts, temperature=temperature, max_new_tokens=max_new_tokens,
                                     batch_size=batch_size, seed=seed)]


def score(text: str, gold: Any, target: str, opened: bool | None = None) -> dict[str, Any]:
    """One completion scored as the rewards score it: `correct` (its answer part), the `target` shares of its
    thought and of its answer (None without letters), and its thought `form` (`kolang.data.thought`)."""
    s = split_thought(text, opened)
    return {"correct": is_correct(s.answer, gold), "share_thought": language_ratio(s.part("thought"), target),
            "share_answer": language_ratio(s.part("answer"), target), "form": s.form}


# --- the short form ---------------------------------------------------------------------------------


def evaluate(model, tokenizer, problems: Sequence[Problem], prompt_lang: str, *, temperature: float = 0.0,
             max_new_tokens: int = 96, batch_size: int = 64, target: str = "ko", seed: int = 0,
             return_completions: bool = False) -> dict[str, Any]:
    """Ask each problem in `prompt_lang` once and score the completions.

    Returns `n`, `accuracy`, `accuracy_by_level` ({level: accuracy}), `target_share` (mean share of
    `target`-language letters in the thought, over completions that have letters), `mostly_target`
    (share of completions whose thought is more than half `target`), and `completions` on request.
    """
    texts = generate_completions(model, tokenizer, [p.question[prompt_lang] for p in problems],
                                 temperature=temperature, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                 seed=seed)
    scored = [score(t, p.answer, target) for t, p in zip(texts, problems)]
    shares = [s["share_thought"] for s in scored]
    known = [r for r in shares if r is not None]
    by_level: dict[int, list[bool]] = {}
    for p, s in zip(problems, scored):
        by_level.setdefault(p.level, []).append(s["correct"])
    result: dict[str, Any] = {
        "n": len(problems),
        "prompt_lang": prompt_lang,
        "temperature": temperature,
        "accuracy": sum(s["correct"] for s in scored) / max(1, len(scored)),
        "accuracy_by_level": {lv: sum(v) / len(v) for lv, v in sorted(by_level.items())},
        "target_share": sum(known) / len(known) if known else 0.0,
        "mostly_target": sum(r is not None and r > 0.5 for r in shares) / max(1, len(shares)),
    }
    if return_completions:
        result["completions"] = texts
    return result


def problem_records(problems: Sequence[Problem], lang: str) -> list[dict[str, Any]]:
    """The bundled word problems as `evaluate_model` records, with their level."""
    return [{**r, "level": str(p.level)} for r, p in zip(rl_records(problems, lang), problems)]


# --- kolang eval -----------------------------------------------------------------------------------




def _mode_summary(rows: list[list[dict[str, Any]]], cfg: EvalConfig, sampled: bool) -> dict[str, Any]:
    """Rates of one decoding mode; `rows[i]` holds problem i's completions. Each rate is the mean over problems
    of a per-problem value, so the bootstrap resamples problems, never completions of one problem."""
    per = {key: [mean_known([r[key] for r in rs]) for rs in rows]
           for key in ("correct", "share_thought", "share_answer", "tokens", "thought_tokens", "answer_tokens",
                       "truncated", "thought_closed")}
    out = {"accuracy": per["correct"], "target_share_thought": per["share_thought"],
           "target_share_answer": per["share_answer"], "tokens": per["tokens"], "thought_tokens": per["thought_tokens"],
           "answer_tokens": per["answer_tokens"], "truncation_rate": per["truncated"],
           "thought_closed_rate": per["thought_closed"]}
    if sampled:
        out["pass@k"] = [float(any(r["correct"] for r in rs)) for rs in rows]  # n = k samples: any correct
    summary = {k: interval(v, cfg.bootstrap, cfg.seed) for k, v in out.items()}
    return {"k": cfg.samples, **summary} if sampled else summary


def _set_summary(idx: list[int], greedy: list[list[dict]], sampled: list[list[dict]], records: Sequence[dict],
                 cfg: EvalConfig, breakdown: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(idx)}
    if cfg.greedy:
        out["greedy"] = _mode_summary([greedy[i] for i in idx], cfg, sampled=False)
    out["sampled"] = _mode_summary([sampled[i] for i in idx], cfg, sampled=True)
    for field, key in (("level", "by_level"), ("subject", "by_subject")):
        groups: dict[str, list[int]] = {}
        for i in idx:
            if records[i].get(field) is not None:
                groups.setdefault(str(records[i][field]), []).append(i)
        if breakdown and groups:
            out[key] = {g: _set_summary(members, greedy, sampled, records, cfg, breakdown=False)
                        for g, members in sorted(groups.items())}
    return out


def evaluate_model(model, tokenizer, records: Sequence[dict[str, Any]], cfg: EvalConfig = EvalConfig(),
                   progress: Progress | None = None, keep_completions: bool = False) -> dict[str, Any]:
    """Measure `model` on `{"prompt", "answer", "lang", "level"?, "subject"?}` records (`kolang.data.schemas`).

    Per prompt set (each `lang`, and "all" when there are several): `n`; for the greedy completion (with
    `cfg.greedy`) and the `cfg.samples` sampled ones, `accuracy` (avg@k when sampled), `pass@k`, the
    `cfg.target` shares of thought and of answer, mean lengths in tokens (completion, thought, answer),
    the truncation rate and the rate of closed thought blocks; `by_level` / `by_subject` when records
    have those fields. Every rate is `{"value", "low", "high"}`, a bootstrap 95% interval over problems.
    With `keep_completions`, `completions` holds one row a completion (popped before writing eval.json).
    """
    records = list(records[: cfg.limit] if cfg.limit else records)
    prompts = [r["prompt"] for r in records]
    opened = [opens_thought(format_prompt(tokenizer, p, cfg.thinking)) for p in prompts]
    total, greedy_rows = len(prompts) * (cfg.samples + int(cfg.greedy)), len(prompts) * int(cfg.greedy)

    def shown_from(base: int) -> Progress | None:
        return None if progress is None else (lambda done, _: progress(base + done, total))

    common = dict(max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, seed=cfg.seed, thinking=cfg.thinking)
    runs = [("greedy", generate(model, tokenizer, prompts, n=1, temperature=0.0, progress=shown_from(0), **common), 1)
            ] if cfg.greedy else []
    runs.append(("sampled", generate(model, tokenizer, prompts, n=cfg.samples, temperature=cfg.temperature,
                                     top_p=cfg.top_p, progress=shown_from(greedy_rows), **common), cfg.samples))
    by_mode: dict[str, list[list[dict[str, Any]]]] = {"greedy": [[] for _ in records], "sampled": [[] for _ in records]}
    completions = []
    for mode, gens, n in runs:
        for j, g in enumerate(gens):
            i = j // n
            s = split_thought(g.text, opened[i] or None)
            row = {"problem": i, "mode": mode, "sample": j % n, "lang": records[i].get("lang"),
                   "answer": records[i]["answer"], **score(g.text, records[i]["answer"], cfg.target, opened[i] or None),
                   "tokens": g.tokens, "truncated": g.truncated, "thought_closed": s.closed,
                   "thought_tokens": len(tokenizer(s.thought, add_special_tokens=False)["input_ids"]) if s.thought else 0,
                   "answer_tokens": len(tokenizer(s.answer, add_special_tokens=False)["input_ids"]) if s.answer else 0,
                   "completion": g.text}
            by_mode[mode][i].append(row)
            completions.append(row)
    sets: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        sets.setdefault(r.get("lang") or "all", []).append(i)
    if len(sets) > 1:
        sets["all"] = list(range(len(records)))
    result: dict[str, Any] = {
        "n": len(records), "target": cfg.target, "language_path": language_path(cfg.target),
        "thought_prefilled": any(opened), "config": to_dict(cfg),
        "sets": {name: _set_summary(idx, by_mode["greedy"], by_mode["sampled"], records, cfg) for name, idx in sets.items()},
    }
    if keep_completions:
        result["completions"] = completions
    return result


@torch.no_grad()
def reasoning_nll(model, tokenizer, problems: Sequence[Problem], prompt_lang: str, reason_lang: str, *,
                  batch_size: int = 64) -> float:
    """Mean NLL (nats a token) of the reference solutions in `reason_lang`, end-of-turn included, given
    the chat-formatted question in `prompt_lang`: how well the model can reason in that language.

    Unlike NLL over raw texts, this reads each sequence the way a chat model sees it, special tokens
    and all, and scores only what the model would write.
    """
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    total, count = 0.0, 0
    for start in range(0, len(problems), batch_size):
        seqs = [encode_exchange(tokenizer, p.question[prompt_lang], p.solution(reason_lang))
                for p in problems[start:start + batch_size]]
        ids, mask, labels = completion_batch(seqs, pad)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
        total += float(completion_nll(logits, labels.to(device), reduction="sum"))
        count += int((labels[:, 1:] != IGNORE).sum())
    return total / max(count, 1)
