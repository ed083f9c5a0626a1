"""Interventions on selected neurons during a forward or `generate`: ablate, scale, or set.

Each is a context manager over the hook engine's `edit_mlp`: it edits the down projection's input
(the neuron value) in the selected columns only, and always removes its hooks on exit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from kolang.arch import resolve
from kolang.neurons.hooks import edit_mlp
from kolang.neurons.neuronset import neuron_index

Neurons = Any  # a NeuronSet, or a mapping layer -> indices


@contextmanager
def set_neurons(model: nn.Module, neurons: Neurons, value: float | Mapping[int, torch.Tensor] = 0.0,
                scale: float | None = None) -> Iterator[None]:
    """Set (or, with `scale`, multiply) the selected neurons' values inside the context.

    `value` is one number or, per layer, a tensor with one value per selected neuron (e.g. the
    target language's median); `scale` multiplies instead. The model is restored on exit.
    """
    mm = resolve(model)
    index = neuron_index(neurons)
    if hasattr(neurons, "check"):
        neurons.check(mm)
    cache: dict[tuple[int, torch.device], torch.Tensor] = {}

    def edit(layer: int, v: torch.Tensor) -> torch.Tensor:  # v: (batch, seq, width)
        key = (layer, v.device)
        if key not in cache:
            cache[key] = index[layer].to(v.device)
        idx = cache[key]
        v = v.clone()
        if scale is not None:
            v[..., idx] = v[..., idx] * scale
        elif isinstance(value, Mapping):
            v[..., idx] = torch.as_tensor(value[layer], dtype=v.dtype, device=v.device)
        else:
            v[..., idx] = value
        return v

    with edit_mlp(mm, edit, layers=index.keys()):
        yield


def ablate(model: nn.Module, neurons: Neurons) -> Any:
    """Zero the selected neurons' values (the context manager LAPE uses to test causality)."""
    return set_neurons(model, neurons, 0.0)


def scale(model: nn.Module, neurons: Neurons, factor: float) -> Any:
    """Multiply the selected neurons' values by `factor` (> 1 amplifies, < 1 damps)."""
    return set_neurons(model, neurons, scale=factor)
