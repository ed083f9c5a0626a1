"""Registering the sparse neuron adapter with PEFT, so `get_peft_model`, `save_pretrained`,
`PeftModel.from_pretrained` and `merge_and_unload` handle it like a built-in method.

PEFT keys its registries by the `PeftType` enum, which has no public way to add a member; an
out-of-tree method needs one, so it is added here the way `enum` itself stores members. This is
not public PEFT API: `tests/tuning/test_peft.py` round-trips through it on every PEFT upgrade.
"""

from __future__ import annotations

from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING
from peft.utils import PeftType, register_peft_method

from kolang.tuning.adapter.config import PEFT_NAME, NeuronConfig
from kolang.tuning.adapter.model import NeuronModel


def _add_peft_type(name: str) -> PeftType:
    if name in PeftType.__members__:
        return PeftType[name]
    member = str.__new__(PeftType, name)
    member._name_ = name
    member._value_ = name
    setattr(PeftType, name, member)  # before _member_map_, which makes the attribute read-only
    PeftType._member_map_[name] = member
    PeftType._value2member_map_[name] = member
    PeftType._member_names_.append(name)
    return member


def register() -> None:
    """Make `PeftType.SPARSE_NEURON` known to PEFT (idempotent)."""

    peft_type = _add_peft_type(PEFT_NAME.upper())
    if peft_type not in PEFT_TYPE_TO_TUNER_MAPPING:
        register_peft_method(name=PEFT_NAME, config_cls=NeuronConfig, model_cls=NeuronModel)
