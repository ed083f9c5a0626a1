"""Dense gradient masking: the reference the sparse adapter is checked against.

Every neuron-holding MLP weight of the chosen layers is trainable at full size, and a gradient
hook zeroes every entry outside the selected rows/columns; weight decay is applied through the
same mask. It costs a full-size gradient and optimizer state per weight — the sparse adapter
exists to avoid that — but it is the obvious implementation, so under plain SGD the two must end
at the same weights (tests/tuning/test_equivalence.py).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kolang.arch import resolve
from kolang.neurons.neuronset import neuron_index


class GradientMask:
    """Masks gradients (and, via `decay`, weight decay) of a model's neuron weights to a neuron set."""

    def __init__(self, model: nn.Module, neurons: Any, train_bias: bool = False) -> None:
        mm = resolve(model)
        self.masks: dict[str, tuple[nn.Parameter, torch.Tensor]] = {}  # name -> (param, bool mask like param)
        for p in model.parameters():
            p.requires_grad_(False)
        for layer, idx in neuron_index(neurons).items():
            for name, param, dim, offset in mm.neuron_slices(layer):
                if name.endswith(".bias") and not train_bias:
                    continue
                if name not in self.masks:
                    self.masks[name] = (param, torch.zeros_like(param, dtype=torch.bool))
                self.masks[name][1].index_fill_(dim, (idx + offset).to(param.device), True)
        self._handles = []
        for param, mask in self.masks.values():
            param.requires_grad_(True)
            self._handles.append(param.register_hook(lambda g, m=mask: g * m))

    def parameters(self) -> list[nn.Parameter]:
        """The full-size trainable parameters (pass them to the optimizer with weight_decay=0)."""
        return [p for p, _ in self.masks.values()]

    @torch.no_grad()
    def decay(self, lr: float, weight_decay: float) -> None:
        """Decoupled weight decay on the selected entries only (AdamW's `p *= 1 - lr * wd`); call before `step`."""
        if weight_decay:
            for p, m in self.masks.values():
                p.copy_(torch.where(m, p * (1 - lr * weight_decay), p))

    def remove(self) -> None:
        """Drop the gradient hooks."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
