"""The sparse neuron adapter, masked SFT and merging.

Importing this package registers the adapter with PEFT (`PeftType.SPARSE_NEURON`).
"""

from kolang.tuning.config import NeuronConfig, neuron_dict
from kolang.tuning.layer import NeuronLayer
from kolang.tuning.model import NeuronModel
from kolang.tuning.register import register

register()

__all__ = ["NeuronConfig", "NeuronLayer", "NeuronModel", "neuron_dict", "register"]
