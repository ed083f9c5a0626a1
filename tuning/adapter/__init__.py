"""The sparse neuron adapter as a PEFT tuner, in PEFT's own layout: `config.py` (`NeuronConfig`),
`layer.py` (`NeuronLayer`), `model.py` (`NeuronModel`) and `register.py`.

Importing this package registers the adapter with PEFT (`PeftType.SPARSE_NEURON`), so
`get_peft_model(model, NeuronConfig.from_neurons(...))` works right after
`from kolang.tuning.adapter import NeuronConfig`. Code that only loads a saved adapter with
`PeftModel.from_pretrained` calls `register()` first.
"""

from kolang.tuning.adapter.config import NeuronConfig
from kolang.tuning.adapter.layer import NeuronLayer
from kolang.tuning.adapter.model import NeuronModel
from kolang.tuning.adapter.register import register

register()

__all__ = ["NeuronConfig", "NeuronLayer", "NeuronModel", "register"]
