"""How a model is read: the options every command that loads one shares, one docstring a field (the CLI
help), checked without torch so a bad value is answered before any weight is read.

`SourceConfig` (revision, attention kernel) applies to every stage; `LoadConfig` adds the device map
and offload folder of the read-only stages (discover, validate, drift, report), which may spread a
large model over several devices, the CPU and the disk through accelerate's hooks. Training keeps
one device.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kolang.errors import ConfigError

# Attention kernels transformers accepts by name, and the package each needs beyond torch.
ATTENTION = {"eager": None, "sdpa": None, "flex_attention": None, "flash_attention_2": "flash_attn",
             "flash_attention_3": "flash_attn_interface"}
# Placement strategies `from_pretrained(device_map=...)` computes itself (accelerate's `infer_auto_device_map`).
STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")
_DEVICE = re.compile(r"^(cpu|disk|mps|(cuda|xpu|npu|mlu|hpu)(:\d+)?)$")


@dataclass(frozen=True)
class SourceConfig:
    """Which revision of a hub model to read, and with which attention kernel."""

    revision: str | None = None
    """Revision of a model named by hub id: a branch, tag or commit hash (default: main)."""
    attn_implementation: str | None = None
    """Attention kernel: eager, sdpa, flex_attention, or flash_attention_2/3 where flash-attn is installed
    (default: what transformers picks)."""

    def __post_init__(self) -> None:
        attn = self.attn_implementation
        if attn is not None:
            if attn not in ATTENTION:
                raise ConfigError(f"--attn-implementation {attn} is not one of {', '.join(ATTENTION)}")
            package = ATTENTION[attn]
            if package is not None and importlib.util.find_spec(package) is None:
                raise ConfigError(f"--attn-implementation {attn} needs the {package} package, which is not installed "
                                  "here; install it (a CUDA machine) or use sdpa")
        if self.revision is not None and not self.revision.strip():
            raise ConfigError("--revision is empty; give a branch, tag or commit hash")

    def source_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `kolang.models.load_model` these options set."""
        return {"revision": self.revision, "attn_implementation": self.attn_implementation}


@dataclass(frozen=True)
class LoadConfig(SourceConfig):
    """How a read-only stage places a model: one device, or a device map over several, the CPU and the disk."""

    device_map: str | None = None
    """Spread the model over devices instead of --device: auto, balanced, balanced_low_0, sequential, or a JSON
    map of module to device ({"model.layers.0": 0, "lm_head": "cpu"}), inline or in a .json file."""
    offload_folder: str | None = None
    """Folder for the weights a device map sends to "disk" (read back by accelerate's hooks layer by layer)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        placed = self.placement()
        if isinstance(placed, dict) and "disk" in placed.values() and not self.offload_folder:
            raise ConfigError("--device-map sends weights to disk; give --offload-folder DIR for them")
        if self.offload_folder and Path(self.offload_folder).is_file():
            raise ConfigError(f"--offload-folder {self.offload_folder} is a file; give a folder")

    def placement(self) -> str | dict[str, int | str] | None:
        """The device map as `from_pretrained` takes it: a strategy name, `{module: device}`, or None."""
        return parse_device_map(self.device_map)

    def load_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `kolang.models.load_model` these options set."""
        return {**self.source_kwargs(), "device_map": self.placement(), "offload_folder": self.offload_folder}


def parse_device_map(text: str | dict | None) -> str | dict[str, int | str] | None:
    """A `--device-map` value (strategy, inline JSON object, or a .json file holding one) checked for shape:
    module names to a device index or name (cpu, disk, cuda:1 …); `ConfigError` says what is wrong."""
    if text is None or isinstance(text, dict):
        mapping = text
    elif text in STRATEGIES:
        return text
    else:
        raw = text
        if not text.lstrip().startswith("{"):
            path = Path(text)
            if path.suffix != ".json" or not path.is_file():
                raise ConfigError(f"--device-map {text} is not one of {', '.join(STRATEGIES)}, a JSON object, "
                                  "or a .json file holding one")
            raw = path.read_text(encoding="utf-8", errors="replace")
        try:
            mapping = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--device-map is not valid JSON: {e}") from None
    if mapping is None:
        return None
    if not isinstance(mapping, dict) or not mapping:
        raise ConfigError('--device-map must map module names to devices, e.g. {"model.layers.0": 0, "lm_head": "cpu"}')
    for module, device in mapping.items():
        ok = (isinstance(device, int) and not isinstance(device, bool) and device >= 0) or (
            isinstance(device, str) and _DEVICE.match(device))
        if not ok:
            raise ConfigError(f"--device-map: '{module}' goes to {device!r}, which is not a device (use a GPU index, "
                              "cuda:N, cpu or disk)")
    return dict(mapping)
