"""Architecture adapters: a registry of `ArchSpec`s, one file per family, and `resolve(model)`.

Adding a family is one new file in this folder that defines `SPECS = [ArchSpec(...)]`; it is
found at import. Everything else in kolang reads the resolved `ModelMap`, never a family name.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kolang.arch.base import ArchSpec, WeightSlice
from kolang.errors import ArchitectureError
from kolang.hub import source_record

REGISTRY: dict[str, ArchSpec] = {}  # model_type -> spec

# Mixture-of-experts MLPs route each token to a few of many expert MLPs, so "hidden unit i of the
# layer's MLP" names no single neuron; kolang refuses them rather than guess.
MOE_TYPES = (
    "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v2", "deepseek_v3",
    "gpt_oss", "granitemoe", "jamba", "dbrx", "phimoe", "llama4", "minimax",
)


def register(spec: ArchSpec) -> ArchSpec:
    """Add a family's spec to the registry, keyed by each `config.model_type` it covers."""
    for model_type in spec.model_types:
        REGISTRY[model_type] = spec
    return spec


def _load_families() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        for spec in getattr(importlib.import_module(f"{__name__}.{info.name}"), "SPECS", []):
            register(spec)


_load_families()


def supported_families() -> list[str]:
    """Family names with an adapter, sorted, for error messages and the README."""
    return sorted({s.family for s in REGISTRY.values()})


def spec_for(model_type: str) -> ArchSpec:
    """The spec for a `config.model_type`, or an `ArchitectureError` naming what is supported."""
    if model_type in MOE_TYPES:
        raise ArchitectureError(
            f"'{model_type}' is a mixture-of-experts model; kolang maps dense MLPs only "
            f"(supported: {', '.join(supported_families())})"
        )
    if model_type not in REGISTRY:
        raise ArchitectureError(
            f"no architecture adapter for model_type '{model_type}'; supported families: "
            f"{', '.join(supported_families())} (add one file to kolang/arch/)"
        )
    return REGISTRY[model_type]


@dataclass
class ModelMap:
    """A model resolved against its spec: where each layer's MLP sites are, and its fingerprint."""

    model: nn.Module
    spec: ArchSpec
    layers_path: str
    num_layers: int
    width: int

    def block(self, layer: int) -> nn.Module:
        return self.model.get_submodule(f"{self.layers_path}.{layer}")

    def path(self, layer: int, site: str = "mlp") -> str:
        """Dotted module path of `site` ("mlp", "down", "act", "gate", "up") in `layer`."""
        base = f"{self.layers_path}.{layer}.{self.spec.mlp}"
        if site == "mlp":
            return base
        rel = getattr(self.spec, site)
        if rel is None:
            raise ArchitectureError(f"{self.spec.family} MLPs have no '{site}' projection")
        return f"{base}.{rel}"

    def module(self, layer: int, site: str = "mlp") -> nn.Module:
        return self.model.get_submodule(self.path(layer, site))

    def neuron_slices(self, layer: int) -> list[tuple[str, nn.Parameter, int, int]]:
        """(name, parameter, dim, offset) for every parameter slice holding this layer's neurons."""
        out = []
        mlp = self.module(layer, "mlp")
        for ws in self.spec.slices():
            param = getattr(mlp.get_submodule(ws.module), ws.param, None)
            if param is None:
                continue
            offset = self.width if ws.offset_by_width else ws.offset
            name = f"{self.path(layer, 'mlp')}.{ws.module}.{ws.param}"
            out.append((name, param, ws.dim, offset))
        return out

    def fingerprint(self) -> dict[str, Any]:
        """What a NeuronSet must match (family, layer count, MLP width, hidden size), and where the weights came
        from when the model was read from a folder or the Hub (`source`: `{"id", "revision"}` or `{"path"}`)."""
        cfg = getattr(self.model, "config", None)
        cfg_text = getattr(cfg, "get_text_config", lambda: cfg)() if cfg is not None else None
        fp = {
            "family": self.spec.family,
            "model_type": getattr(cfg, "model_type", None),
            "num_layers": self.num_layers,
            "mlp_width": self.width,
            "hidden_size": getattr(cfg_text, "hidden_size", None) or getattr(cfg_text, "n_embd", None),
        }
        # from_pretrained records what it read in `_name_or_path` (a hub cache snapshot names repo and commit)
        source = source_record(getattr(cfg, "_name_or_path", None), getattr(cfg, "_commit_hash", None))
        if source is not None:
            fp["source"] = source
        return fp


def _down_width(down: nn.Module, conv1d: bool) -> int:
    weight = down.weight  # Linear: (out, in); Conv1D: (in, out)
    return int(weight.shape[0] if conv1d else weight.shape[1])


def resolve(model: nn.Module) -> ModelMap:
    """Map `model` (a HF causal LM or its base model) to its MLP sites, or raise `ArchitectureError`."""
    cfg = getattr(model, "config", None)
    model_type = getattr(cfg, "model_type", None)
    if model_type is None:
        raise ArchitectureError(f"{type(model).__name__} has no config.model_type; pass a Hugging Face model")
    spec = spec_for(model_type)
    for path in spec.layers:
        try:
            layers = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(layers, nn.ModuleList) and len(layers) > 0:
            break
    else:
        raise ArchitectureError(
            f"{type(model).__name__} ({model_type}) has none of the block lists {list(spec.layers)}"
        )
    mlp0 = layers[0].get_submodule(spec.mlp)
    down = mlp0.get_submodule(spec.down)
    if not hasattr(down, "weight") or not isinstance(down.weight, torch.Tensor):
        raise ArchitectureError(f"{model_type}: '{spec.down}' has no weight matrix (quantised models are not supported)")
    mm = ModelMap(model=model, spec=spec, layers_path=path, num_layers=len(layers), width=_down_width(down, spec.conv1d))
    for layer in range(mm.num_layers):  # an activation module shared across layers would mix layers' hooks
        act = mm.module(layer, "act")
        if layer and act is mm.module(0, "act"):
            raise ArchitectureError(f"{model_type}: layers share one activation module; cannot hook them apart")
    return mm


__all__ = ["ArchSpec", "WeightSlice", "ModelMap", "REGISTRY", "register", "resolve", "spec_for", "supported_families"]
