"""Llama 2/3.x and the families that copy its MLP verbatim (Mistral, Qwen2/2.5, Qwen3, OLMo 1-3)."""

from kolang.arch.base import LLAMA_LIKE, ArchSpec

SPECS = [
    ArchSpec(family="llama", model_types=("llama",), **LLAMA_LIKE),
    # Ministral is Mistral's MLP under another name; its tiny model would only repeat Mistral's
    ArchSpec(family="mistral", model_types=("mistral", "ministral"), tiny_types=("mistral",), **LLAMA_LIKE),
    ArchSpec(family="qwen2", model_types=("qwen2",), **LLAMA_LIKE),
    ArchSpec(family="qwen3", model_types=("qwen3",), **LLAMA_LIKE),
    ArchSpec(family="olmo", model_types=("olmo", "olmo2", "olmo3"), **LLAMA_LIKE),
]
