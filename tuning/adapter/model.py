"""`NeuronModel`: the PEFT tuner that wraps each layer's MLP projections in `NeuronLayer`s.

Where a neuron's weights live comes from `kolang.arch` (the same data every other stage reads),
so the adapter works on every mapped family: gate/up rows and down columns for Llama-like MLPs,
Phi-3's fused gate_up (gate rows at `i`, up rows at `width + i`), GPT-2's transposed Conv1D.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from peft.tuners.tuners_utils import BaseTuner
from torch import nn
from transformers.pytorch_utils import Conv1D

from kolang.arch import resolve
from kolang.errors import NeuronSetError
from kolang.tuning.adapter.config import PEFT_NAME, NeuronConfig
from kolang.tuning.adapter.layer import NeuronLayer


@dataclass
class _Target:
    index: list[torch.Tensor]  # positions along the neuron axis (with Phi-3's up offset added)
    side: str  # "out": neurons are output units (gate/up/c_fc); "in": input units (down/c_proj)


def _base(module: nn.Module) -> nn.Module:
    return module.get_base_layer() if hasattr(module, "get_base_layer") else module


def plan_targets(model: nn.Module, neurons: dict[int, torch.Tensor]) -> dict[str, _Target]:
    """Module path -> which of its rows/columns belong to the selected neurons; validates the set."""
    mm = resolve(model)
    plan: dict[str, _Target] = {}
    for layer, idx in neurons.items():
        if not 0 <= layer < mm.num_layers:
            raise NeuronSetError(f"neuron set names layer {layer} but the model has {mm.num_layers} layers")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= mm.width):
            raise NeuronSetError(f"layer {layer}: neuron index {int(idx.max())} is outside the MLP width {mm.width}")
        for name, _param, dim, offset in mm.neuron_slices(layer):
            path, pname = name.rsplit(".", 1)
            if pname != "weight":
                continue  # biases follow their weight's rows (NeuronConfig.train_bias)
            conv = isinstance(_base(model.get_submodule(path)), Conv1D)
            side = "out" if (dim == 0) != conv else "in"
            plan.setdefault(path, _Target([], side)).index.append(idx + offset)
    return plan


class NeuronModel(BaseTuner):
    """Sparse neuron adapter: only the selected MLP neurons of the chosen layers train.

    Example:
        >>> from peft import get_peft_model
        >>> from kolang.tuning.adapter import NeuronConfig
        >>> peft_model = get_peft_model(model, NeuronConfig.from_neurons(neuron_set, layers=range(4)))
    """

    prefix: str = f"{PEFT_NAME}_"
    tuner_layer_cls = NeuronLayer
    target_module_mapping: dict[str, Any] = {}

    def _plan(self, config: NeuronConfig) -> dict[str, _Target]:
        cache = self.__dict__.setdefault("_kolang_plans", {})
        key = id(config)
        if key not in cache:
            cache[key] = plan_targets(self.model, config.layer_indices())
        return cache[key]

    def _prepare_adapter_config(self, peft_config: NeuronConfig, model_config: dict) -> NeuronConfig:
        if not peft_config.neurons:
            raise NeuronSetError("the neuron adapter config selects no neurons")
        if peft_config.target_modules is None:
            peft_config.target_modules = sorted(self._plan(peft_config))
        return peft_config

    def _create_and_replace(self, peft_config: NeuronConfig, adapter_name: str, target: nn.Module,
                            target_name: str, parent: nn.Module, current_key: str, **kw: Any) -> None:
        spec = self._plan(peft_config).get(current_key)
        if spec is None:
            raise NeuronSetError(f"module {current_key} holds none of the selected neurons")
        index = torch.cat(spec.index)
        args = dict(train_bias=peft_config.train_bias, init_weights=peft_config.init_weights)
        if isinstance(target, NeuronLayer):
            target.update_layer(adapter_name, index, spec.side, **args)
            return
        new = NeuronLayer(target, adapter_name, index, spec.side, **args)
        if adapter_name not in self.active_adapters:
            new.requires_grad_(False)  # an added, inactive adapter does not train
        self._replace_module(parent, target_name, new, target)
