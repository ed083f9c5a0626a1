"""Selection methods: a registry, one file per method, and `select_neurons`, the one public entry.

Adding a method is one new file in this folder defining `METHOD = Method(name, Config, score, summary)`;
it is found at import. Selection strategies (global top fraction, per-layer quota, layer range) and
tie-breaking live in `base.py` and apply to every method alike.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any

import torch

from kolang.config import field_docs
from kolang.errors import ConfigError, DataError, NeuronSetError
from kolang.layers import as_layers
from kolang.neurons.config import validate_strategy
from kolang.neurons.neuronset import NeuronSet, fingerprint_of
from kolang.neurons.select.base import DEFAULT_TOP_FRACTION, Method, MethodScores, cut_ties, take
from kolang.neurons.stats import ActivationStats

REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add a method to the registry under its name."""
    REGISTRY[method.name] = method
    return method


def _load_methods() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        method = getattr(importlib.import_module(f"{__name__}.{info.name}"), "METHOD", None)
        if method is not None:
            register(method)


_load_methods()


def get_method(name: str) -> Method:
    """The registered method called `name`, or a `ConfigError` listing the available ones."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown selection method '{name}'; available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def make_config(method: Method, params: dict[str, Any]) -> Any:
    """Build the method's frozen config from keyword parameters, refusing unknown names."""
    names = [f.name for f in dataclasses.fields(method.config)]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ConfigError(f"method '{method.name}' has no parameter {', '.join(unknown)} (it has: {', '.join(names) or 'none'})")
    return method.config(**params)


def _references(stats: ActivationStats, target: str, reference: str | Iterable[str] | None) -> list[str]:
    stats.lang_index(target)
    refs = [reference] if isinstance(reference, str) else list(reference or [])
    if not refs:  # no reference named: compare against every other language read
        refs = [x for x in stats.languages if x != target]
    for r in refs:
        stats.lang_index(r)
    if target in refs:
        raise ConfigError(f"target language '{target}' is also a reference language")
    if not refs:
        raise DataError(f"the statistics hold only '{target}'; collect statistics on a reference language too")
    return list(dict.fromkeys(refs))


def _span(layers: list[int]) -> str:
    """Layers as "a..b" when contiguous, else listed."""
    return f"{layers[0]}..{layers[-1]}" if layers == list(range(layers[0], layers[-1] + 1)) else ",".join(map(str, layers))


def select_neurons(
    stats: ActivationStats,
    method: str = "lape",
    target: str = "ko",
    reference: str | Iterable[str] | None = ("en",),
    top_fraction: float | None = None,
    per_layer: int | None = None,
    layers: "str | range | Iterable[int] | None" = None,
    *,
    model: Any = None,
    **method_params: Any,
) -> NeuronSet:
    """Score every neuron with `method` and select the target language's neurons as a `NeuronSet`.

    Strategy: `top_fraction` of the neurons in `layers` (ranked across them), or `per_layer` neurons
    from each layer of `layers`; with neither, the method's own selection (LAPE's `top_rate`) or the
    top 1%. `layers` is a spec such as "0:8" (Python slice semantics) or indices, by default the
    layers the statistics hold (`stats.layers`; asking for others is refused). `model` (a model,
    `ModelMap` or fingerprint) stamps the set so it is refused by other models; without it the set
    carries only the layer count and width of the statistics. `reference=None` means every other
    language. Ties are broken by score, then the method's secondary key (AP: effect size), then layer, then
    index; `params["method_info"]` records, per ranking, how many neurons tied at the cut. Raises
    `NeuronSetError` if nothing passes.
    """
    m = get_method(method)
    cfg = make_config(m, method_params)
    validate_strategy(top_fraction, per_layer)
    refs = _references(stats, target, reference)
    read = stats.read_layers
    layer_list = as_layers(layers, stats.num_layers) if layers is not None else read
    unread = sorted(set(layer_list) - set(read))
    if unread:
        raise DataError(f"the statistics hold layers {_span(read)} only, not {_span(unread)}; select from the "
                        "layers read or collect statistics on more layers")
    L, W = stats.num_layers, stats.width
    if model is not None:
        fingerprint = fingerprint_of(model)
    else:
        fingerprint = dict(getattr(stats, "fingerprint", None) or {"num_layers": L, "mlp_width": W})
    if (fingerprint.get("num_layers"), fingerprint.get("mlp_width")) != (L, W):
        raise NeuronSetError(f"the statistics have {L} layers x {W} neurons but the model has "
                             f"{fingerprint.get('num_layers')} x {fingerprint.get('mlp_width')}")
    result: MethodScores = m.score(stats, target, refs, cfg, layer_list)
    ways = len(result.rankings)  # AP's "both" takes its quota from each end
    if per_layer is not None and per_layer * ways > W:
        raise ConfigError(f"--per-layer {per_layer} exceeds the MLP width {W}" if ways == 1 else
                          f"--per-layer {per_layer} in both directions takes {per_layer * ways} of a layer's {W} "
                          "neurons; lower it or take one direction")
    if top_fraction is not None and top_fraction * ways > 1:
        raise ConfigError(f"--top-fraction {top_fraction} in both directions takes more than every neuron; lower it "
                          "or take one direction")
    info = dict(result.info or {})
    if top_fraction is None and per_layer is None and result.default is not None:
        chosen = result.default.clone()
        outside = torch.ones(L, dtype=torch.bool)
        outside[layer_list] = False
        chosen[outside] = False
    else:
        frac = DEFAULT_TOP_FRACTION if top_fraction is None and per_layer is None else top_fraction
        chosen = torch.zeros(L, W, dtype=torch.bool)
        for ranking in result.rankings:
            taken = take(ranking, result.scores, layer_list, frac, per_layer)
            info[ranking.name] = cut_ties(ranking, result.scores, layer_list, taken, per_layer is not None,
                                          result.score_name)
            chosen |= taken
    if not chosen.any():
        raise NeuronSetError(
            f"{method} selected no '{target}' neuron in layers {layer_list[0]}..{layer_list[-1]}; "
            "read more texts, widen the layers, or raise top_fraction / per_layer"
        )
    if method == "lape":  # LAPE's entropy compares every language read, whatever `reference` named
        refs = [x for x in stats.languages if x != target]
    params = {**dataclasses.asdict(cfg), "top_fraction": top_fraction, "per_layer": per_layer, "layers": layer_list,
              **({"method_info": info} if info else {})}
    neurons = {l: chosen[l].nonzero().flatten() for l in range(L) if chosen[l].any()}
    return NeuronSet(neurons, fingerprint, method=method, target=target, reference=refs, params=params,
                     scores=result.scores.float(), stats=stats)


__all__ = ["REGISTRY", "Method", "register", "get_method", "field_docs", "make_config", "select_neurons"]
