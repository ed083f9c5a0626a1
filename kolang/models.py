"""Loading a model and the tokenizer its folder declares, from a local folder, a hub id or a live object."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn

from kolang.arch import spec_for
from kolang.errors import ConfigError, ModelError, first_line
from kolang.hub import ModelSource, fetch, locate
from kolang.loading import parse_device_map

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
        first = first_line(e, 160)
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
    model: str | Path | ModelSource | nn.Module,
    tokenizer: Any = None,
    dtype: str | torch.dtype | None = "auto",
    device: str | torch.device | None = None,
    *,
    revision: str | None = None,
    device_map: str | dict[str, int | str] | None = None,
    offload_folder: str | Path | None = None,
    attn_implementation: str | None = None,
) -> tuple[nn.Module, Any]:
    """Return `(model, tokenizer)` in eval mode from a local HF folder, a hub id at `revision` (see
    `kolang.hub.locate`; downloaded into the Hugging Face cache if need be), or a model object.

    The folder must hold `config.json`; the tokenizer is the class it declares (`load_tokenizer`).
    `dtype` is "auto" (what the checkpoint says), a name like "bf16", or a torch dtype. `device_map`
    ("auto", another strategy, or `{module: device}`) spreads the weights over devices, the CPU and the
    disk (`offload_folder`) with accelerate's hooks instead of moving the model to `device`.
    """
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ModelError(f"unknown dtype '{dtype}'; use one of {', '.join(DTYPES)}")
        dtype = DTYPES[dtype]
    if isinstance(model, nn.Module):
        if revision or device_map is not None or attn_implementation:
            raise ConfigError("revision, device_map and attn_implementation apply when a model is read from disk or "
                              "the Hub; this model object is already loaded")
        if dtype is not None:
            model = model.to(dtype)
        if device is not None:
            model = model.to(pick_device(device))
        return model.eval(), tokenizer
    if device is not None and device_map is not None:
        raise ConfigError("give a device or a device map, not both (--device or --device-map)")
    target = pick_device(device) if device_map is None else None  # a bad --device is answered before any download
    source = locate(model, revision, option="model")
    path = fetch(source).absolute()
    try:
        config = transformers.AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"cannot read {path / 'config.json'}: {e}") from e

    spec_for(config.model_type)  # refuse unmapped architectures before reading weights
    kwargs: dict[str, Any] = {"dtype": dtype if dtype is not None else "auto"}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device_map is not None:
        kwargs["device_map"] = check_device_map(parse_device_map(device_map))
        if offload_folder is not None:
            kwargs["offload_folder"] = str(offload_folder)
    try:
        hf = transformers.AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except Exception as e:  # safetensors, torch and transformers raise many types for damaged or foreign weights
        first = first_line(e)
        if attn_implementation and re.search(r"attention|attn", str(e), re.I):
            raise ModelError(f"attn_implementation {attn_implementation} cannot be used with {source} ({first})") \
                from None
        if device_map is not None and re.search(r"device_map|offload|disk|memory", str(e), re.I):
            raise ModelError(f"the device map {device_map} cannot place {source} ({first})") from None
        raise ModelError(f"cannot load the model weights in {path} ({type(e).__name__}: {first}); are the files "
                         "complete?") from None
    if target is not None:  # under a device map accelerate's hooks own placement; moving the model would undo it
        hf = hf.to(target)
    hf = hf.eval()
    tok = tokenizer if tokenizer is not None else load_tokenizer(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    check_encodes(tok)
    return hf, tok


def check_device_map(device_map: str | dict[str, int | str] | None) -> str | dict[str, int | str] | None:
    """`device_map` if every GPU it names exists on this machine, else `ConfigError` saying how many there are."""
    if not isinstance(device_map, dict):
        return device_map
    for module, device in device_map.items():
        kind, _, index = str(device).partition(":")
        if isinstance(device, int) or kind == "cuda":
            n = torch.cuda.device_count()
            i = device if isinstance(device, int) else int(index or 0)
            if i >= n:
                raise ConfigError(f"device map: '{module}' goes to GPU {i}, but this machine has {n} CUDA device(s)")
    return device_map



def resident(module: nn.Module, name: str) -> torch.Tensor:
    """`module`'s own parameter `name`, detached; where a device map offloaded it to the CPU or disk (the module
    then holds a meta tensor), the weight accelerate's hook reads back for each forward pass."""
    param = getattr(module, name).detach()
    if param.device.type == "meta":
        hook = getattr(module, "_hf_hook", None)
        for h in getattr(hook, "hooks", None) or [hook]:  # a SequentialHook chains several
            weights = getattr(h, "weights_map", None)
            if weights is not None and name in weights:
                return weights[name].to(param.dtype)
    return param
