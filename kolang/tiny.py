"""Tiny random-init models of every mapped family, and a byte-level tokenizer, built from configs.

They let every code path run with no downloaded weights: the architecture contract tests, the
CLI's bad-input tests, and discovery on a built-in model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from tokenizers.pre_tokenizers import ByteLevel

from kolang.arch import REGISTRY, resolve

BYTE_TOKENIZER_SPECIALS = ("<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>")


def byte_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """A byte-level tokenizer with no merges (260 ids): encodes any UTF-8 text, Korean included."""

    alphabet = ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(BYTE_TOKENIZER_SPECIALS))
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>", bos_token=None
    )


VOCAB = 256 + len(BYTE_TOKENIZER_SPECIALS)


def tiny_config(family: str, layers: int = 2, hidden: int = 32, width: int = 64, vocab: int = VOCAB) -> transformers.PretrainedConfig:
    """A small config of `family` (a HF model_type or a kolang family name), built from the architecture
    registry: adding a family to `kolang/arch/` adds its tiny model here too."""
    model_type = family.lower()
    if model_type not in REGISTRY:
        by_family = [t for t in TINY_FAMILIES if REGISTRY[t].family == model_type]
        if not by_family:
            raise ValueError(f"no tiny config for '{family}'; known: {', '.join(TINY_FAMILIES)}")
        model_type = by_family[0]
    spec = REGISTRY[model_type]
    fields: dict = dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=width, num_hidden_layers=layers,
                        num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4, max_position_embeddings=256,
                        eos_token_id=256, pad_token_id=257, bos_token_id=None, tie_word_embeddings=False)
    fields.update(spec.tiny)
    fields = {k: v for k, v in fields.items() if v is not None}
    if "n_inner" in fields:  # GPT-2's name for the MLP width
        fields["n_inner"] = width
    return transformers.AutoConfig.for_model(model_type, **fields)


# One tiny model per model_type the registry maps (the contract tests run over all of them).
TINY_FAMILIES = tuple(t for t, spec in REGISTRY.items() if t in (spec.tiny_types or spec.model_types))


def tiny_model(family: str = "qwen2", seed: int = 0, **kw) -> transformers.PreTrainedModel:
    """A random-init causal LM of `family`, in eval mode, float32."""
    torch.manual_seed(seed)
    cfg = tiny_config(family, **kw)
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    model.config.architectures = [type(model).__name__]  # as a saved checkpoint would declare it
    return model.float().eval()


# Published dimensions of real models, for random-init stand-ins at true size (benchmarks, GPU checks):
# the shapes and vocabulary decide time and memory, the weights do not. From each model's config.json.
REAL_SHAPES: dict[str, dict] = {
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
}


def real_shape_model(name: str, dtype: torch.dtype = torch.float32, seed: int = 0) -> transformers.PreTrainedModel:
    """A random-init Qwen2 causal LM with the true dimensions and vocabulary of `name` (a `REAL_SHAPES` key),
    in eval mode, stopping on the byte tokenizer's ids (it reads ids below 260 of the 151,936)."""
    if name not in REAL_SHAPES:
        raise ValueError(f"no shape for '{name}' (have {', '.join(REAL_SHAPES)})")
    torch.manual_seed(seed)
    cfg = transformers.Qwen2Config(**REAL_SHAPES[name], max_position_embeddings=32768, rope_theta=1e6,
                                   rms_norm_eps=1e-6, eos_token_id=256, pad_token_id=257, bos_token_id=None)
    model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    model.config.architectures = [type(model).__name__]
    return model.eval()


def save_tiny(path: str | Path, family: str = "qwen2", seed: int = 0, **kw) -> Path:
    """Write a tiny model and the byte tokenizer as a plain HF directory; returns the path."""
    return save_with_byte_tokenizer(tiny_model(family, seed, **kw), path)


def save_with_byte_tokenizer(model: transformers.PreTrainedModel, path: str | Path) -> Path:
    """Write `model` and the byte tokenizer as a plain HF directory that `kolang` commands load; returns the path."""
    path = Path(path)
    model.save_pretrained(path)
    tok = byte_tokenizer()
    tok.save_pretrained(path)
    cfg_file = path / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_file.write_text(json.dumps(cfg, indent=2))
    return path


def hangul_token_ids(tokenizer) -> list[int]:
    """Ids of every token that occurs in the encoding of some Hangul syllable (for the byte tokenizer:
    the UTF-8 lead bytes 0xEA-0xED and continuation bytes 0x80-0xBF)."""
    ids: set[int] = set()
    syllables = "".join(chr(c) for c in range(0xAC00, 0xD7A4, 7))
    for start in range(0, len(syllables), 256):
        ids.update(tokenizer(syllables[start : start + 256], add_special_tokens=False)["input_ids"])
    return sorted(ids)


@torch.no_grad()
def planted_model(family: str = "qwen2", layers: tuple[int, ...] = (0, 1), per_layer: int = 4, seed: int = 0,
                  strength: float = 4.0, boost: float = 0.4) -> tuple[transformers.PreTrainedModel, dict[int, list[int]]]:
    """A tiny model whose planted neurons fire on Hangul tokens only, and help predict Hangul.

    Two residual coordinates are reserved: `d_in` carries "this token is Hangul" (set in the
    embedding, never written by attention or MLPs) and `d_out` is written only by the planted
    neurons and read only by the unembedding rows of Hangul tokens. So on English text the planted
    neurons are exactly inactive (gate input 0) and ablating them changes nothing, while on Korean
    text they raise the logits of Hangul bytes: ablating them must hurt Korean alone. For
    RMSNorm (Llama-like) families, whose norms never mix coordinates.
    """
    model = tiny_model(family, seed=seed)

    mm = resolve(model)
    hidden = model.config.hidden_size
    d_in, d_out = hidden - 1, hidden - 2
    hangul = torch.tensor(hangul_token_ids(byte_tokenizer()))
    emb = model.get_input_embeddings().weight  # (V, hidden)
    emb[:, d_in] = 0.0
    emb[:, d_out] = 0.0
    emb[hangul, d_in] = 1.0 / float(getattr(model.model, "embed_scale", torch.tensor(1.0)) if hasattr(model, "model") else 1.0)
    g = torch.Generator().manual_seed(seed)
    planted = {layer: sorted(torch.randperm(mm.width, generator=g)[:per_layer].tolist()) for layer in layers}
    for layer in range(mm.num_layers):
        block = mm.block(layer)
        block.self_attn.o_proj.weight[[d_in, d_out], :] = 0.0  # attention never writes the reserved coordinates
        gate, up, down = mm.module(layer, "gate").weight, mm.module(layer, "up").weight, mm.module(layer, "down").weight
        gate[:, d_in] = 0.0  # (width, hidden): no ordinary neuron reads "is Hangul"
        up[:, d_in] = 0.0
        down[[d_in, d_out], :] = 0.0  # (hidden, width): no ordinary neuron writes the reserved coordinates
        for i in planted.get(layer, []):
            gate[i] = 0.0
            up[i] = 0.0
            gate[i, d_in] = strength  # act(gate) > 0 exactly when the token is Hangul
            up[i, d_in] = strength
            down[:, i] = 0.0
            down[d_out, i] = 1.0
    head = model.get_output_embeddings().weight  # (V, hidden)
    head[:, d_out] = 0.0
    head[hangul, d_out] = boost  # the final norm makes d_out dominate on Hangul tokens: keep the logit shift moderate
    return model, planted
