"""The sparse neuron adapter, masked SFT and merging.

Importing this package registers the adapter with PEFT (`PeftType.SPARSE_NEURON`).
"""

from kolang.tuning.config import NeuronConfig, neuron_dict
from kolang.tuning.layer import NeuronLayer
from kolang.tuning.model import NeuronModel
from kolang.tuning.register import register

register()

from kolang.tuning.gradmask import GradientMask  # noqa: E402  (after registration: they build PEFT configs)
from kolang.tuning.merge import merge_adapter_dir, merged_model, save_merged  # noqa: E402
from kolang.tuning.sft import TuneConfig, tune  # noqa: E402
from kolang.tuning.trainable import KINDS, Trainable, prepare  # noqa: E402

__all__ = ["KINDS", "GradientMask", "NeuronConfig", "NeuronLayer", "NeuronModel", "Trainable", "TuneConfig",
           "merge_adapter_dir", "merged_model", "neuron_dict", "prepare", "register", "save_merged", "tune"]
