"""GPT-2: an ungated MLP whose `Conv1D` layers store weights transposed, (in, out)."""

from kolang.arch.base import ArchSpec

SPECS = [
    ArchSpec(
        family="gpt2",
        model_types=("gpt2",),
        layers=("transformer.h", "h"),
        mlp="mlp",
        down="c_proj",
        act="act",
        gate=None,
        up="c_fc",
        conv1d=True,
        # GPT-2 names its MLP width n_inner (set to `width` by kolang.tiny) and has no grouped-query attention
        tiny=(("n_inner", 64), ("num_key_value_heads", None), ("head_dim", None)),
    ),
]
