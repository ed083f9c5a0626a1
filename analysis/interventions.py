"""What happens to the language of a model's reasoning, and to its accuracy, when its language neurons
are ablated, damped, amplified or pinned while it generates.

Each named intervention is one of `kolang.neurons.intervene`'s context managers; `measure_interventions`
evaluates the model on the same problems under each, through `evaluate_model`, so every figure comes
with its bootstrap 95% interval over problems. "Set to the Korean mean" pins each neuron to its mean
value on the target language's texts (the statistics the set was selected from), so it needs a set
saved with its statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from kolang.analysis.config import EvalConfig
from kolang.analysis.evaluate import evaluate_model
from kolang.errors import NeuronSetError
from kolang.neurons.intervene import ablate, scale, set_neurons
from kolang.neurons.neuronset import NeuronSet

INTERVENTIONS = ("none", "ablate", "scale ×0.5", "scale ×4", "set to target mean", "set to 4 × target mean")


def target_means(ns: NeuronSet) -> dict[int, torch.Tensor]:
    """Per layer, the mean value of each selected neuron on the set's target language (from its statistics)."""
    if ns.stats is None:
        raise NeuronSetError("pinning neurons to their target-language mean needs a set saved with its statistics "
                             "(`kolang discover` saves them)")
    g = ns.stats.lang_index(ns.target)
    mean = ns.stats.mean()  # (L, G, W)
    return {layer: mean[layer, g, idx].float() for layer, idx in ns.neurons.items()}


def intervention(model: torch.nn.Module, ns: NeuronSet, name: str) -> AbstractContextManager:
    """The context manager of intervention `name` (one of `INTERVENTIONS`) on the neurons of `ns`."""
    makers: dict[str, Callable[[], AbstractContextManager]] = {
        "none": nullcontext,
        "ablate": lambda: ablate(model, ns),
        "scale ×0.5": lambda: scale(model, ns, 0.5),
        "scale ×4": lambda: scale(model, ns, 4.0),
        "set to target mean": lambda: set_neurons(model, ns, target_means(ns)),
        "set to 4 × target mean": lambda: set_neurons(model, ns, {k: 4 * v for k, v in target_means(ns).items()}),
    }
    if name not in makers:
        raise NeuronSetError(f"unknown intervention '{name}'; use one of {', '.join(makers)}")
    return makers[name]()


def measure_interventions(model: torch.nn.Module, tokenizer: Any, ns: NeuronSet, records: Sequence[dict[str, Any]],
                          cfg: EvalConfig = EvalConfig(), names: Sequence[str] = INTERVENTIONS) -> dict[str, Any]:
    """Accuracy and target-language share of the reasoning, greedy and sampled, under each intervention.

    Returns `{name: {"greedy": {"accuracy", "target_share"}, "sampled": {...}}}` of bootstrap intervals, on
    `records` (`{"prompt", "answer"}` as `kolang.analysis.evaluate.problem_records` makes them).
    """
    out: dict[str, Any] = {}
    for name in names:
        with intervention(model, ns, name):
            result = evaluate_model(model, tokenizer, records, cfg)
        whole = result["sets"].get("all") or next(iter(result["sets"].values()))
        out[name] = {mode: {"accuracy": whole[mode]["accuracy"], "target_share": whole[mode]["target_share_thought"]}
                     for mode in ("greedy", "sampled") if mode in whole}
    return {"n": len(records), "neurons": len(ns), "target": ns.target, "conditions": out}


def _text(v: dict[str, Any]) -> str:
    if v.get("value") is None:
        return "—"
    return f"{v['value']:.2f} [{v['low']:.2f}, {v['high']:.2f}]"


def interventions_table(results: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Rows of `{model: measure_interventions(...)}` for display: each figure as `value [low, high]`."""
    return [{"model": model, "intervention": name, "decoding": mode,
             **{f"{q} [95% CI]": _text(v) for q, v in figures.items()}}
            for model, r in results.items() for name, modes in r["conditions"].items()
            for mode, figures in modes.items()]


def moved_language(result: dict[str, Any], mode: str = "greedy") -> list[str]:
    """The interventions whose target-language share lies outside the unedited model's interval (none: the
    language of the reasoning does not live in these neurons alone)."""
    cond = result["conditions"]
    base = cond["none"][mode]["target_share"]
    out = []
    for name, modes in cond.items():
        v = modes[mode]["target_share"]
        if name != "none" and None not in (v["low"], base["low"]) and (v["low"] > base["high"] or v["high"] < base["low"]):
            out.append(name)
    return out
