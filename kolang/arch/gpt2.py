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
    ),
]
