"""Gemma 1-3: a Llama-shaped MLP with GELU (tanh) gating; Gemma 3's multimodal wrapper nests the text model."""

from kolang.arch.base import LLAMA_LIKE, ArchSpec

_GEMMA3 = {**LLAMA_LIKE, "layers": ("model.language_model.layers", "model.layers", "language_model.layers", "layers")}

SPECS = [
    ArchSpec(family="gemma", model_types=("gemma", "gemma2"), **LLAMA_LIKE),
    # gemma3 (the multimodal wrapper) nests a text config; tiny models use the text model alone
    ArchSpec(family="gemma3", model_types=("gemma3_text", "gemma3"), tiny_types=("gemma3_text",), **_GEMMA3),
]
