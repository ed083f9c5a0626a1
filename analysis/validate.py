"""Causal validation of a neuron set: ablate it and measure NLL and perplexity per language.

Following Tang et al. (ACL 2024, §4), deactivating a language's neurons should hurt that language
far more than the others; a random set matched layer by layer (same count in every layer) is the
control that shows the effect is about *which* neurons, not how many.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kolang.batching import encoded_batches
from kolang.errors import ConfigError, DataError, NeuronSetError
from kolang.neurons.intervene import ablate


# Positions whose logits are computed at once: about 256 MB of float32 logits, whatever the vocabulary
# (441 positions at Qwen's 151,936), where a whole 16k-token batch would hold 10 GB.
HEAD_CHUNK_BYTES = 2**28


class _HeadInput(Exception):
    """Raised by a pre-hook on the LM head to hand over its input: the logits are computed here, in chunks."""

    def __init__(self, hidden: torch.Tensor):
        self.hidden = hidden


def _final_hidden(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The (B, T, hidden) input of the LM head (after the final norm), the head itself not run."""

    def grab(_mod, args):
        raise _HeadInput(args[0])

    handle = model.get_output_embeddings().register_forward_pre_hook(grab)
    try:
        model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    except _HeadInput as got:
        return got.hidden
    finally:
        handle.remove()
    raise RuntimeError(f"{type(model).__name__} never called its output embeddings")  # pragma: no cover


def token_nll(model: nn.Module, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(n,) next-token NLL in nats of `target` (n,) from the LM head's input `hidden` (n, hidden), in chunks
    of positions so the logits of a batch never exist at once."""
    head = model.get_output_embeddings()
    cap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)  # Gemma 2/3 squash the logits
    step = max(1, HEAD_CHUNK_BYTES // (4 * head.weight.shape[0]))
    out = torch.empty(target.shape[0], dtype=torch.float32, device=hidden.device)
    for i in range(0, target.shape[0], step):
        logits = head(hidden[i : i + step]).float()  # (step, V)
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        out[i : i + step] = F.cross_entropy(logits, target[i : i + step], reduction="none")
    return out


def nll_by_language(
    model: nn.Module, tokenizer, texts: Sequence[str], langs: Sequence[str], *,
    contexts: Sequence[str] | None = None, max_length: int = 512, token_budget: int = 16384,
) -> dict[str, dict[str, float]]:
    """Mean next-token NLL (nats), perplexity and predicted-token count per language.

    With `contexts`, each text is read after its context (a chat-formatted question, say) and only the
    text's own tokens are scored. The LM head runs only on the positions that predict a scored token, a
    few hundred at a time: the full (batch, seq, vocabulary) logits are never built.
    """
    device = next(model.parameters()).device
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    skip = [0] * len(texts)
    if contexts is not None:  # tokens of each context, encoded as the joined string's start is
        skip = [len(tokenizer(c)["input_ids"]) for c in contexts]
        texts = [c + t for c, t in zip(contexts, texts, strict=True)]
    with torch.inference_mode():
        for b in encoded_batches(tokenizer, texts, max_length=max_length, token_budget=token_budget):
            ids = b.input_ids.to(device)
            hidden = _final_hidden(model, ids, b.attention_mask.to(device))  # (B, T, hidden)
            keep = b.attention_mask[:, 1:].bool().to(device)  # (B, T-1): predict every real token after the first
            for r, i in enumerate(b.index):
                keep[r, : max(skip[i] - 1, 0)] = False  # positions that predict a context token
            nll = token_nll(model, hidden[:, :-1][keep], ids[:, 1:][keep])  # (n,)
            row = torch.arange(ids.shape[0], device=device)[:, None].expand_as(keep)[keep]  # (n,) row of each
            per_row = torch.zeros(ids.shape[0], dtype=torch.float64, device=device).index_add_(0, row, nll.double())
            per_row, n = per_row.cpu(), keep.sum(1).cpu()
            for r, i in enumerate(b.index):
                lang = langs[i]
                sums[lang] = sums.get(lang, 0.0) + float(per_row[r])
                counts[lang] = counts.get(lang, 0) + int(n[r])
    out = {}
    for lang in sorted(sums):
        mean = sums[lang] / max(counts[lang], 1)
        out[lang] = {"nll": mean, "ppl": math.exp(min(mean, 50.0)), "tokens": counts[lang]}
    return out


def validate(
    model: nn.Module, tokenizer, neurons: Any, texts: Sequence[str], langs: Sequence[str], *,
    n_random: int = 3, seed: int = 0, max_length: int = 512, token_budget: int = 16384, min_ratio: float = 3.0,
    contexts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """NLL per language with nothing ablated, with `neurons` ablated, and with `n_random` matched random sets.

    Returns a JSON-ready dict: per-condition tables, the NLL increase per language for the set and for
    the random controls (mean and per seed), and whether the set hurts its target language more than
    every reference language and more than the random controls do.
    """
    if n_random < 1:
        raise ConfigError(f"n_random must be ≥ 1 (the random control sets are the comparison), got {n_random}")
    if not len(neurons):
        raise NeuronSetError("the neuron set holds no neurons; nothing to ablate")
    target = getattr(neurons, "target", "") or ""
    present = sorted(set(langs))
    if target and target not in present:
        raise DataError(f"no texts in the set's target language '{target}' (the data has {', '.join(present) or 'none'})")
    if len(present) < 2:
        raise DataError(f"the data holds one language only ({', '.join(present) or 'none'}); validation compares "
                        "the target with at least one other language")
    kw = dict(max_length=max_length, token_budget=token_budget, contexts=contexts)
    base = nll_by_language(model, tokenizer, texts, langs, **kw)
    with ablate(model, neurons):
        hit = nll_by_language(model, tokenizer, texts, langs, **kw)
    randoms = []
    for k in range(n_random):
        control = neurons.random_matched(seed=seed + k)
        with ablate(model, control):
            randoms.append(nll_by_language(model, tokenizer, texts, langs, **kw))
    langs_sorted = sorted(base)
    delta_set = {lang: hit[lang]["nll"] - base[lang]["nll"] for lang in langs_sorted}
    delta_random_runs = [{lang: r[lang]["nll"] - base[lang]["nll"] for lang in langs_sorted} for r in randoms]
    delta_random = {lang: (sum(r[lang] for r in delta_random_runs) / len(delta_random_runs)) if delta_random_runs else 0.0
                    for lang in langs_sorted}
    others = [lang for lang in langs_sorted if lang != target]
    verdict = None
    if target in delta_set and others:
        verdict = {
            "target": target,
            "target_more_than_references": all(delta_set[target] > delta_set[o] for o in others),
            "target_more_than_random": all(delta_set[target] > r[target] for r in delta_random_runs),
            "selectivity": delta_set[target] - max(delta_set[o] for o in others),
            "target_delta": delta_set[target],
        }
        worst = max(delta_set[o] for o in others)
        ratio = delta_set[target] / worst if worst > 0 else (math.inf if delta_set[target] > 0 else 0.0)
        verdict["ratio_to_references"] = ratio if math.isfinite(ratio) else None  # None: references unharmed
        verdict["min_ratio"] = min_ratio
        verdict["passed"] = bool(delta_set[target] > 0 and verdict["target_more_than_references"]
                                 and verdict["target_more_than_random"] and ratio >= min_ratio)
    return {
        "neurons": len(neurons),
        "layers": {str(k): v for k, v in neurons.counts().items()},
        "conditions": {"none": base, "ablate_set": hit, **{f"ablate_random_{k}": r for k, r in enumerate(randoms)}},
        "delta_nll": {"set": delta_set, "random_mean": delta_random, "random_runs": delta_random_runs},
        "verdict": verdict,
    }


def verdict_line(verdict: dict[str, Any] | None) -> tuple[bool, str]:
    """(passed, one sentence) for a validation verdict, as the terminal, the demo and the report state it."""
    if not verdict:
        return False, "no verdict: the set names no target language present in the texts"
    ratio, delta = verdict.get("ratio_to_references"), verdict.get("target_delta")
    shown = "every reference unharmed" if ratio is None else f"{ratio:.1f}x the worst-hit reference"
    if delta is not None and delta <= 0:  # a ratio of a fall to a rise says nothing: state the fall
        shown = f"it lowers '{verdict['target']}' NLL ({delta:+.3f} nats a token)"
    facts = (f"ablating the set raises '{verdict['target']}' NLL most: {verdict['target_more_than_references']}; "
             f"more than every random set: {verdict['target_more_than_random']}; {shown} "
             f"(needs {verdict.get('min_ratio', 3.0):g}x); selectivity {verdict['selectivity']:+.4f}")
    passed = bool(verdict.get("passed", verdict["target_more_than_references"] and verdict["target_more_than_random"]))
    return passed, ("PASSED: " if passed else "FAILED: ") + facts + ("" if passed else
                                                                    " — the set does not behave as a language set")

