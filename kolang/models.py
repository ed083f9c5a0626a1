"""Loading a model and the tokenizer its directory declares, from a local folder or a live object."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn

from kolang.arch import spec_for
from kolang.errors import ConfigError, ModelError

# What a Hugging Face model directory (weights, config, tokenizer) and a PEFT adapter directory hold,
# as `fnmatch` patterns: a folder of only these is one kolang may replace with a newer save of its own.
MODEL_FILES = ("config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer*",
               "special_tokens_map.json", "added_tokens.json", "chat_template.*", "vocab.*", "merges.txt", "README.md")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "tuned.safetensors", *MODEL_FILES)

DTYPES = {"auto": None, "float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """`device` if given (checked to exist on this machine), else CUDA when present, else CPU."""
    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"--device '{device}' is not a device; use cpu, cuda, cuda:1, mps …") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {device}: MPS is not available on this machine; use --device cpu")
    return dev


def set_threads(n: int | None = None) -> None:
    """Use one intra-op thread per physical core (oversubscription makes CPU runs crawl)."""
    n = n or int(os.environ.get("KOLANG_THREADS", 0)) or max(1, (os.cpu_count() or 1))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def load_tokenizer(path: str | Path) -> transformers.PreTrainedTokenizerBase:
    """Load the tokenizer class the directory declares in `tokenizer_config.json`.

    transformers 5.x's `AutoTokenizer` may substitute the model family's tokenizer (e.g.
    `Qwen2Tokenizer` next to a Qwen2 `config.json`) for a custom one, which then encodes to other
    ids or to nothing; the declared class is what the model was trained with.
    """
    path = Path(path)
    cfg_file = path / "tokenizer_config.json"
    declared = None
    if cfg_file.is_file():
        try:
            declared = json.loads(cfg_file.read_text(encoding="utf-8")).get("tokenizer_class")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ModelError(f"{cfg_file} is not valid JSON: {e}") from e
    try:
        if declared:
            cls = getattr(transformers, declared, None)
            if cls is None and declared.endswith("Fast"):
                cls = getattr(transformers, declared[: -len("Fast")], None)
            if cls is None and (path / "tokenizer.json").is_file():
                cls = transformers.PreTrainedTokenizerFast
            if cls is not None:
                return cls.from_pretrained(str(path))
        if (path / "tokenizer.json").is_file() and not declared:
            return transformers.PreTrainedTokenizerFast.from_pretrained(str(path))
        return transformers.AutoTokenizer.from_pretrained(str(path))
    except Exception as e:  # tokenizers and sentencepiece raise their own types for files of another kind
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ModelError(f"cannot load the tokenizer in {path}"
                         + (f" as {declared}" if declared else "") + f": {first}") from None


def check_encodes(tokenizer: Any, sample: str = "Hello 안녕하세요") -> None:
    """Raise if the tokenizer turns a non-empty text into no tokens (a wrong tokenizer class)."""
    ids = tokenizer(sample, add_special_tokens=False)["input_ids"]
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    if len(ids) == 0 or all(i in special for i in ids):
        raise ModelError(
            f"the tokenizer ({type(tokenizer).__name__}) encodes {sample!r} to "
            f"{'no tokens' if not ids else 'unknown or special tokens only'}; the folder's tokenizer_config.json "
            "probably names the wrong tokenizer_class, or its vocabulary files are missing"
        )


def load_model(
    model: str | Path | nn.Module,
    tokenizer: Any = None,
    dtype: str | torch.dtype | None = "auto",
    device: str | torch.device | None = None,
) -> tuple[nn.Module, Any]:
    """Return `(model, tokenizer)` in eval mode from a local HF directory or a model object.

    A directory must hold `config.json`; the tokenizer is loaded from it with `load_tokenizer`.
    `dtype` is "auto" (what the checkpoint says), a name like "bf16", or a torch dtype.
    """
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ModelError(f"unknown dtype '{dtype}'; use one of {', '.join(DTYPES)}")
        dtype = DTYPES[dtype]
    if isinstance(model, nn.Module):
        if dtype is not None:
            model = model.to(dtype)
        if device is not None:
            model = model.to(pick_device(device))
        return model.eval(), tokenizer
    path = Path(model)
    if path.is_file():
        raise ModelError(f"{path} is a file; give the model's folder (the one holding config.json)")
    if not path.is_dir():
        raise ModelError(f"model folder {path} does not exist")
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} has no config.json; pass a Hugging Face model directory")
    try:
        config = transformers.AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"cannot read {path / 'config.json'}: {e}") from e

    spec_for(config.model_type)  # refuse unmapped architectures before reading weights
    try:
        hf = transformers.AutoModelForCausalLM.from_pretrained(
            str(path), dtype=dtype if dtype is not None else "auto"
        )
    except Exception as e:  # safetensors, torch and transformers raise many types for damaged or foreign weights
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ModelError(f"cannot load the model weights in {path} ({type(e).__name__}: {first}); are the files "
                         "complete?") from None
    hf = hf.to(pick_device(device)).eval()
    tok = tokenizer if tokenizer is not None else load_tokenizer(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    check_encodes(tok)
    return hf, tok
