"""`NeuronLayer`: one projection (gate, up, fused gate_up, down) with trainable deltas on selected neurons.

The base weight is never copied: the forward adds the delta's contribution beside the frozen base
projection, so memory for gradients and optimizer state scales with the number of selected neurons.

    out side (gate/up rows, Conv1D c_fc columns):  y = base(x);  y[..., idx] += x @ D^T (+ b)
    in side  (down columns, Conv1D c_proj rows):   y = base(h) + h[..., idx] @ D^T

`D` is stored in the parameter's own layout (the rows or columns it replaces), so merging is one
`index_add_` into the base weight and leaves every other entry bit-identical.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import torch
import torch.nn.functional as F
from peft.tuners.tuners_utils import BaseTunerLayer, check_adapters_to_merge
from torch import nn
from transformers.pytorch_utils import Conv1D


def neuron_axis(base: nn.Module, side: str) -> int:
    """Axis of `base.weight` indexed by neuron: Linear is (out, in), GPT-2 Conv1D is (in, out)."""
    out_axis = 1 if isinstance(base, Conv1D) else 0
    return out_axis if side == "out" else 1 - out_axis


class NeuronLayer(nn.Module, BaseTunerLayer):
    """A Linear or Conv1D whose selected output (or input) units carry a trainable delta."""

    adapter_layer_names = ("sparse_neuron_weight", "sparse_neuron_bias")
    other_param_names = ("sparse_neuron_index", "sparse_neuron_side")

    def __init__(self, base_layer: nn.Module, adapter_name: str, index: torch.Tensor, side: str,
                 train_bias: bool = False, init_weights: bool = True) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.sparse_neuron_weight = nn.ParameterDict({})
        self.sparse_neuron_bias = nn.ParameterDict({})
        self.sparse_neuron_index: dict[str, torch.Tensor] = {}  # adapter -> (k,) positions along the neuron axis
        self.sparse_neuron_side: dict[str, str] = {}  # adapter -> "out" | "in"
        self._active_adapter = adapter_name
        self.merged_adapters: list[str] = []
        self.conv1d = isinstance(base_layer, Conv1D)
        self.update_layer(adapter_name, index, side, train_bias, init_weights)

    def update_layer(self, adapter_name: str, index: torch.Tensor, side: str, train_bias: bool = False,
                     init_weights: bool = True, inference_mode: bool = False, **kwargs: Any) -> None:
        """Add adapter `adapter_name`: zero (or small random) deltas on the rows/columns in `index`."""
        base = self.get_base_layer()
        weight = base.weight
        axis = neuron_axis(base, side)
        index = torch.as_tensor(index, dtype=torch.long, device=weight.device)
        shape = list(weight.shape)
        shape[axis] = index.numel()  # (k, in) | (in, k) | (out, k) | (k, out)
        delta = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        if not init_weights:
            delta.normal_(0.0, 0.02)
        self.sparse_neuron_weight[adapter_name] = nn.Parameter(delta)
        if train_bias and side == "out" and getattr(base, "bias", None) is not None:
            b = torch.zeros(index.numel(), dtype=base.bias.dtype, device=base.bias.device)
            if not init_weights:
                b.normal_(0.0, 0.02)
            self.sparse_neuron_bias[adapter_name] = nn.Parameter(b)
        self.sparse_neuron_index[adapter_name] = index
        self.sparse_neuron_side[adapter_name] = side
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=inference_mode)

    def _delta_out(self, adapter: str, x: torch.Tensor) -> torch.Tensor:
        """Contribution of `adapter` for input x (..., in) -> (..., k) on the out side, (..., out) on the in side."""
        d = self.sparse_neuron_weight[adapter]
        x = x.to(d.dtype)
        if self.sparse_neuron_side[adapter] == "in":
            x = x.index_select(-1, self.sparse_neuron_index[adapter].to(x.device))  # (..., k)
        y = x @ d if self.conv1d else F.linear(x, d)
        if adapter in self.sparse_neuron_bias:
            y = y + self.sparse_neuron_bias[adapter]
        return y

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters:
            if self.merged:
                self.unmerge()
            return self.base_layer(x, *args, **kwargs)
        result = self.base_layer(x, *args, **kwargs)
        if self.merged:
            return result
        for adapter in self.active_adapters:
            if adapter not in self.sparse_neuron_weight:
                continue
            y = self._delta_out(adapter, x).to(result.dtype)
            if self.sparse_neuron_side[adapter] == "out":
                idx = self.sparse_neuron_index[adapter].to(result.device)
                result = result.index_add(result.dim() - 1, idx, y)  # only the selected units move
            else:
                result = result + y
        return result

    def _add_delta(self, adapter: str, sign: float) -> None:
        """Add (sign 1) or subtract (sign -1) `adapter`'s deltas into the base weight's rows/columns, in place.

        Not named `_apply`: that is `nn.Module._apply`, through which `.to()`, `.cuda()` and `.half()` run.
        """
        base = self.get_base_layer()
        side = self.sparse_neuron_side[adapter]
        idx = self.sparse_neuron_index[adapter].to(base.weight.device)
        with torch.no_grad():
            d = self.sparse_neuron_weight[adapter].to(base.weight.dtype)
            base.weight.index_add_(neuron_axis(base, side), idx, d, alpha=sign)
            if adapter in self.sparse_neuron_bias:
                base.bias.index_add_(0, idx, self.sparse_neuron_bias[adapter].to(base.bias.dtype), alpha=sign)

    def merge(self, safe_merge: bool = False, adapter_names: Optional[list[str]] = None) -> None:
        """Add the active deltas into the base weight's selected rows/columns, in place."""
        for adapter in check_adapters_to_merge(self, adapter_names):
            if adapter not in self.sparse_neuron_weight:
                continue
            if safe_merge and not torch.isfinite(self.sparse_neuron_weight[adapter]).all():
                raise ValueError(f"adapter {adapter} holds NaN or inf deltas; refusing to merge it")
            self._add_delta(adapter, 1.0)
            self.merged_adapters.append(adapter)

    def unmerge(self) -> None:
        """Subtract merged deltas again (exact up to float rounding)."""
        if not self.merged:
            warnings.warn("Already unmerged. Nothing to do.")
            return
        while self.merged_adapters:
            self._add_delta(self.merged_adapters.pop(), -1.0)

    def get_delta_weight(self, adapter: str) -> torch.Tensor:
        """The full-size delta of `adapter` (for inspection only; training never builds it)."""
        base = self.get_base_layer()
        side = self.sparse_neuron_side[adapter]
        full = torch.zeros_like(base.weight)
        full.index_add_(neuron_axis(base, side), self.sparse_neuron_index[adapter].to(full.device),
                        self.sparse_neuron_weight[adapter].to(full.dtype))
        return full

    def supports_lora_conversion(self, adapter_name: str = "default") -> bool:
        return False

    def __repr__(self) -> str:
        return "sparse_neuron." + super().__repr__()
