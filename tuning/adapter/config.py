"""`NeuronConfig`: the PEFT config of the sparse neuron adapter (which neurons of which layers train)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import torch
from peft.config import PeftConfig
from peft.utils import PeftType

from kolang.errors import NeuronSetError
from kolang.neurons.neuronset import neuron_index

PEFT_NAME = "sparse_neuron"  # PeftType.SPARSE_NEURON; parameters are named `sparse_neuron_*`


@dataclass
class NeuronConfig(PeftConfig):
    """Config of the sparse neuron adapter: deltas on the selected rows of gate/up and columns of down.

    A neuron `(layer, i)` is hidden unit `i` of that layer's MLP (`kolang.arch.base`); the adapter trains
    exactly the weights `kolang.arch` lists for it and nothing else. `target_modules` is filled in
    from the model when left empty, so a config is just the neuron set.
    """

    neurons: dict[str, list[int]] = field(
        default_factory=dict,
        metadata={"help": "Selected neurons: layer (as a string, for JSON) -> sorted MLP hidden-unit indices."},
    )
    train_bias: bool = field(
        default=False,
        metadata={"help": "Also train the selected neurons' gate/up biases where the model has them."},
    )
    target_modules: Optional[Union[list[str], str]] = field(
        default=None,
        metadata={"help": "Module paths to wrap; derived from `neurons` and the model when None."},
    )
    init_weights: bool = field(
        default=True,
        metadata={"help": "Start from zero deltas (the model is unchanged); False draws small random ones, for tests."},
    )
    modules_to_save: Optional[list[str]] = field(
        default=None, metadata={"help": "Other modules to train and save in full (PEFT convention)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()

        self.peft_type = getattr(PeftType, PEFT_NAME.upper())
        self.neurons = {str(k): [int(i) for i in v] for k, v in neuron_index(self.neurons).items()}
        if isinstance(self.target_modules, (set, tuple)):
            self.target_modules = sorted(self.target_modules)

    @classmethod
    def from_neurons(cls, neurons: Any, layers: Optional[list[int]] = None, **kw: Any) -> "NeuronConfig":
        """Config for a `NeuronSet` (or `{layer: indices}`), optionally restricted to `layers`."""
        nd = neuron_index(neurons)
        if layers is not None:
            keep = set(int(x) for x in layers)
            nd = {k: v for k, v in nd.items() if k in keep}
        if not nd:
            raise NeuronSetError(
                f"no selected neurons in layers {sorted(layers) if layers is not None else 'any'}; "
                "choose a layer range that holds some of the set's neurons"
            )
        return cls(neurons={str(k): v.tolist() for k, v in nd.items()}, **kw)

    def layer_indices(self) -> dict[int, torch.Tensor]:
        """The neurons as `{layer: LongTensor}`."""
        return neuron_index({int(k): v for k, v in self.neurons.items()})
