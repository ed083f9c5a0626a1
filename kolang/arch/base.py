"""What an architecture adapter is: where one family keeps its MLP neurons, as plain data.

A neuron is hidden unit `i` of a layer's MLP: the input to the down projection is its value
(`act(gate) * up` in gated MLPs, `act(fc)` in ungated ones; TransformerLens's `hook_post`), and
it is *active* in the LAPE sense when `act(gate) > 0` (ungated: when its value is > 0).
Its weights are row `i` of gate/up (column `i` of GPT-2's transposed `Conv1D` c_fc) and column
`i` of down (row `i` of `Conv1D` c_proj).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WeightSlice:
    """One parameter that holds part of every neuron: neuron `i` is index `offset + i` along `dim`."""

    module: str  # path from the MLP module, e.g. "gate_proj"
    param: str  # "weight" or "bias"
    dim: int  # axis of the parameter that is indexed by neuron
    offset: int = 0  # Phi-3's fused gate_up keeps up at rows [width, 2*width)
    offset_by_width: bool = False  # offset is a multiple of the MLP width (set per model)


@dataclass(frozen=True)
class ArchSpec:
    """Where a model family keeps its MLP neurons; read by the one generic hook engine."""

    family: str
    model_types: tuple[str, ...]
    layers: tuple[str, ...]  # candidate paths from the loaded model to its list of blocks
    mlp: str  # path from a block to its MLP
    down: str  # path from the MLP to the down projection (its input is the neuron value)
    act: str  # path from the MLP to the activation module
    gate: str | None  # gate projection; None for ungated MLPs
    up: str  # up projection (gated) or the first projection (ungated, c_fc)
    conv1d: bool = False  # GPT-2 style Conv1D: weight is (in, out)
    fused_gate_up: bool = False  # one Linear computes gate (first half) and up (second half)
    tiny_types: tuple[str, ...] | None = None  # model_types that tiny test models are built for (default: all)
    tiny: tuple[tuple[str, object], ...] = ()  # config fields a tiny model needs besides the shared ones (None: drop one)

    @property
    def gated(self) -> bool:
        return self.gate is not None or self.fused_gate_up

    def slices(self) -> tuple[WeightSlice, ...]:
        """Every parameter slice that belongs to a neuron, in a fixed order."""
        w_in, w_out = (1, 0) if self.conv1d else (0, 1)
        out: list[WeightSlice] = []
        if self.fused_gate_up:
            out.append(WeightSlice(self.up, "weight", w_in))
            out.append(WeightSlice(self.up, "weight", w_in, offset_by_width=True))
            out.append(WeightSlice(self.up, "bias", 0))
            out.append(WeightSlice(self.up, "bias", 0, offset_by_width=True))
        else:
            if self.gate is not None:
                out += [WeightSlice(self.gate, "weight", w_in), WeightSlice(self.gate, "bias", 0)]
            out += [WeightSlice(self.up, "weight", w_in), WeightSlice(self.up, "bias", 0)]
        out.append(WeightSlice(self.down, "weight", w_out))
        return tuple(out)


LLAMA_LIKE = dict(
    layers=("model.layers", "layers"),
    mlp="mlp",
    down="down_proj",
    act="act_fn",
    gate="gate_proj",
    up="up_proj",
)
