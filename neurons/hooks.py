"""The one generic hook engine: every capture and intervention on MLP neurons goes through here.

It reads sites from the resolved `ModelMap` (kolang.arch), never from a family name. The neuron
value is the down projection's input (a forward pre-hook); for gated MLPs the activation
`act(gate)` is the activation module's output (a forward hook), recorded just before the down
projection of the same layer runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch

from kolang.arch import ModelMap

# fn(layer, value, act): value (batch, seq, width) is the down input; act is act(gate) with the
# same shape for gated MLPs, None for ungated ones (where activity is value > 0).
CaptureFn = Callable[[int, torch.Tensor, "torch.Tensor | None"], None]
# fn(layer, value) -> new value (batch, seq, width), fed to the down projection instead.
EditFn = Callable[[int, torch.Tensor], torch.Tensor]


def _layers(mm: ModelMap, layers: Iterable[int] | None) -> list[int]:
    return list(range(mm.num_layers)) if layers is None else sorted(set(int(x) for x in layers))


@contextmanager
def capture_mlp(mm: ModelMap, fn: CaptureFn, layers: Iterable[int] | None = None) -> Iterator[None]:
    """Call `fn(layer, value, act)` on every forward of the chosen layers' MLPs; hooks removed on exit."""
    handles = []
    gate_out: dict[int, torch.Tensor] = {}
    try:
        for layer in _layers(mm, layers):
            if mm.spec.gated:
                def keep_act(_mod, _inp, out, layer=layer):
                    gate_out[layer] = out

                handles.append(mm.module(layer, "act").register_forward_hook(keep_act))

            def on_down(_mod, args, layer=layer):
                act = gate_out.pop(layer, None)
                fn(layer, args[0], act)

            handles.append(mm.module(layer, "down").register_forward_pre_hook(on_down))
        yield
    finally:
        for h in handles:
            h.remove()
        gate_out.clear()


@contextmanager
def edit_mlp(mm: ModelMap, fn: EditFn, layers: Iterable[int] | None = None) -> Iterator[None]:
    """Replace the down projection's input with `fn(layer, value)` in the chosen layers; always restored."""
    handles = []
    try:
        for layer in _layers(mm, layers):
            def on_down(_mod, args, layer=layer):
                return (fn(layer, args[0]), *args[1:])

            handles.append(mm.module(layer, "down").register_forward_pre_hook(on_down))
        yield
    finally:
        for h in handles:
            h.remove()
