"""Phi-3 / Phi-3.5 / Phi-4: gate and up fused into one `gate_up_proj` (gate first, then up)."""

from kolang.arch.base import ArchSpec

SPECS = [
    ArchSpec(
        family="phi3",
        model_types=("phi3",),
        layers=("model.layers", "layers"),
        mlp="mlp",
        down="down_proj",
        act="activation_fn",
        gate=None,
        up="gate_up_proj",
        fused_gate_up=True,
        tiny=(("num_key_value_heads", 4),),  # the fused qkv projection of the tiny config wants as many KV heads
    ),
]
