"""GPT-NeoX (Pythia): an ungated MLP, `dense_h_to_4h` then `dense_4h_to_h`."""

from kolang.arch.base import ArchSpec

SPECS = [
    ArchSpec(
        family="gpt_neox",
        model_types=("gpt_neox",),
        layers=("gpt_neox.layers", "layers"),
        mlp="mlp",
        down="dense_4h_to_h",
        act="act",
        gate=None,
        up="dense_h_to_4h",
        tiny=(("num_key_value_heads", None), ("head_dim", None)),  # no grouped-query attention
    ),
]
