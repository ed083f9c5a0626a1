"""What trains under each `--adapter` kind, on the same layers, so the comparators share one budget.

    neurons   the sparse neuron adapter on the selected neurons (PEFT tuner, `NeuronModel`)
    random    the same adapter on a random set matched layer by layer (the control)
    lora      PEFT LoRA on the same layers' MLP projections
    full      every weight of the same layers
    gradmask  dense gradient masking to the selected neurons (the adapter's reference)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from kolang.arch import resolve
from kolang.errors import ConfigError, NeuronSetError
from kolang.neurons.neuronset import NeuronSet, fingerprint_of, neuron_index
from kolang.tuning.adapter import NeuronConfig
from kolang.tuning.config import KINDS
from kolang.tuning.gradmask import GradientMask


@dataclass
class Trainable:
    """A model ready to train and what it trains."""

    model: nn.Module  # a PeftModel for neurons/random/lora, else the base model
    params: list[nn.Parameter]  # what the optimizer updates
    neurons: dict[int, torch.Tensor] = field(default_factory=dict)  # the set trained (neurons/random/gradmask)
    mask: GradientMask | None = None  # gradmask only: applies masked weight decay

    @property
    def is_peft(self) -> bool:
        return hasattr(self.model, "peft_config")


def as_neuron_set(neurons: Any, model: nn.Module) -> NeuronSet:
    """`neurons` (a NeuronSet or `{layer: indices}`) as a NeuronSet checked against `model`."""
    ns = neurons if isinstance(neurons, NeuronSet) else NeuronSet(neuron_index(neurons), fingerprint_of(model))
    ns.check(model)
    return ns


def restrict(neurons: NeuronSet, layers: list[int]) -> NeuronSet:
    """The set's neurons in `layers`; `NeuronSetError` if there are none."""
    ns = neurons.restrict(layers)
    if not len(ns):
        raise NeuronSetError(f"the neuron set has no neurons in layers {layers}; choose --layers that hold "
                             f"some of its neurons (it has neurons in layers {neurons.layers()})")
    return ns


def mlp_modules(model: nn.Module, layers: list[int]) -> list[str]:
    """Module paths of the MLP projections (gate, up, down) of `layers`."""
    mm = resolve(model)
    return sorted({name.rsplit(".", 1)[0] for layer in layers for name, *_ in mm.neuron_slices(layer)})


def wrap(model: nn.Module, config: Any) -> nn.Module:
    """`peft.get_peft_model`, without the FutureWarning PEFT triggers by reading transformers' renamed
    `is_gradient_checkpointing` (not the user's concern)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)
        return get_peft_model(model, config)


def prepare(model: nn.Module, kind: str, layers: list[int], neurons: Any = None, *, seed: int = 0,
            lora_r: int = 8, train_bias: bool = False) -> Trainable:
    """Freeze `model` and make trainable what `kind` trains in `layers`."""
    if kind not in KINDS:
        raise ConfigError(f"unknown adapter '{kind}'; use one of {', '.join(KINDS)}")
    mm = resolve(model)
    for p in model.parameters():
        p.requires_grad_(False)
    if kind == "full":
        params = [p for layer in layers for p in mm.block(layer).parameters()]
        for p in params:
            p.requires_grad_(True)
        return Trainable(model, params)
    if kind == "lora":
        cfg = LoraConfig(r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.0, target_modules=mlp_modules(model, layers),
                         fan_in_fan_out=mm.spec.conv1d)
        pm = wrap(model, cfg)
        return Trainable(pm, [p for p in pm.parameters() if p.requires_grad])
    if neurons is None:
        raise ConfigError(f"--adapter {kind} needs a neuron set (--neurons DIR)")
    ns = restrict(as_neuron_set(neurons, model), layers)
    if kind == "random":
        ns = ns.random_matched(seed)
    nd = ns.neurons
    if kind == "gradmask":
        gm = GradientMask(model, nd, train_bias=train_bias)
        return Trainable(model, gm.parameters(), nd, gm)

    pm = wrap(model, NeuronConfig.from_neurons(nd, train_bias=train_bias))
    return Trainable(pm, [p for p in pm.parameters() if p.requires_grad], nd)
