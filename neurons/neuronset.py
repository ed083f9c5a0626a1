"""`NeuronSet`: a set of (layer, index) neurons found in one model, and its on-disk artifact.

The artifact is a directory: `neurons.json` (readable: format version, the model fingerprint,
method, languages, parameters, counts and `"neurons": {"<layer>": [indices]}`) and
`neurons.safetensors` (the method's per-neuron scores and the activation statistics behind them).
A set is refused by a model whose fingerprint (family, layer count, MLP width, hidden size)
differs; one found in other weights of the same shape (the fingerprint's `source`: hub id and
commit, or folder) is accepted with a note. Sets also convert to the RUCAIBox LAPE
`activation_mask` format and name their hook sites in TransformerLens and nnsight.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from kolang.arch import resolve
from kolang.errors import KolangNote, NeuronSetError
from kolang.hub import describe, same_source
from kolang.io import atomic_dir, atomic_write_bytes, atomic_write_json, holds_only
from kolang.layers import as_layers
from kolang.neurons.config import JSON_NAME, TENSORS_NAME
from kolang.neurons.stats import ActivationStats

FORMAT_VERSION = 1
# Fingerprint keys that must agree between a set and a model; a key missing on either side is skipped.
CHECKED_KEYS = (("family", "family"), ("num_layers", "layer count"), ("mlp_width", "MLP width"), ("hidden_size", "hidden size"))


def fingerprint_of(model_or_map: Any) -> dict[str, Any]:
    """The fingerprint of a HF model, a `ModelMap`, an nnsight wrapper, or a fingerprint dict itself."""
    if isinstance(model_or_map, Mapping):
        return dict(model_or_map)
    if hasattr(model_or_map, "fingerprint") and callable(model_or_map.fingerprint):
        return model_or_map.fingerprint()

    return resolve(_unwrap(model_or_map)).fingerprint()


def _without_source(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fingerprint.items() if k != "source"}


def _unwrap(model: Any) -> Any:
    """The torch module behind an nnsight `LanguageModel`/`Envoy` (kept as `_module`), else `model` itself."""
    if isinstance(model, torch.nn.Module):
        return model
    inner = getattr(model, "_module", None)
    return inner if isinstance(inner, torch.nn.Module) else model


def neuron_index(neurons: Any) -> dict[int, torch.Tensor]:
    """`{layer: sorted unique int64 indices}` (empty layers dropped) of a `NeuronSet`, a `{layer: indices}`
    mapping, or its JSON form with string layers: the one reading of "which neurons" every stage shares."""
    raw = getattr(neurons, "neurons", neurons)
    if not isinstance(raw, Mapping):
        raise NeuronSetError(f"expected a NeuronSet or a {{layer: indices}} mapping, got {type(neurons).__name__}")
    out: dict[int, torch.Tensor] = {}
    for key, values in raw.items():
        try:
            layer = int(key)
        except (TypeError, ValueError):
            raise NeuronSetError(f"layer {key!r} is not a layer number") from None
        t = torch.as_tensor(values if not isinstance(values, torch.Tensor) else values.detach().cpu())
        if t.numel() and (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
            raise NeuronSetError(f"layer {layer}: neuron indices must be integers, got {t.dtype}")
        t = torch.unique(t.to(torch.int64).flatten())  # sorted
        if t.numel():
            out[layer] = t
    return dict(sorted(out.items()))


class NeuronSet:
    """Neurons by layer (`{layer: sorted unique int64 indices}`, empty layers omitted) of one model."""

    def __init__(self, neurons: Mapping[int, Any], fingerprint: Mapping[str, Any], method: str = "", target: str = "",
                 reference: Sequence[str] = (), params: Mapping[str, Any] | None = None,
                 scores: torch.Tensor | None = None, stats: ActivationStats | None = None):
        self.fingerprint = dict(fingerprint)
        L, W = self.fingerprint.get("num_layers"), self.fingerprint.get("mlp_width")
        self.neurons: dict[int, torch.Tensor] = {}
        for layer, idx in neuron_index(neurons).items():
            if layer < 0 or (L is not None and layer >= L):
                raise NeuronSetError(f"layer {layer} is out of range for a model with {L} layers")
            if int(idx[0]) < 0 or (W is not None and int(idx[-1]) >= W):
                raise NeuronSetError(f"layer {layer}: neuron index {int(idx[0]) if idx[0] < 0 else int(idx[-1])} "
                                     f"is outside the MLP width {W}")
            self.neurons[layer] = idx
        self.method, self.target = method, target
        self.reference = [reference] if isinstance(reference, str) else list(reference)
        self.params = dict(params or {})
        if scores is not None and L is not None and W is not None and tuple(scores.shape) != (L, W):
            raise NeuronSetError(f"scores have shape {tuple(scores.shape)}, expected ({L}, {W})")
        self.scores = scores.detach().cpu().float() if scores is not None else None  # (L, W)
        self.stats = stats

    # ---- size and shape ----------------------------------------------------------------------
    def __len__(self) -> int:
        return sum(int(v.numel()) for v in self.neurons.values())

    def __repr__(self) -> str:
        return (f"NeuronSet({len(self)} neurons in {len(self.neurons)} layers, method={self.method!r}, "
                f"target={self.target!r}, model={self.fingerprint.get('family')})")

    def __eq__(self, other: object) -> bool:
        """Same neurons in a model of the same fingerprint (the method, scores and weights' source are not compared)."""
        if not isinstance(other, NeuronSet):
            return NotImplemented
        return (_without_source(self.fingerprint) == _without_source(other.fingerprint)
                and self.neurons.keys() == other.neurons.keys()
                and all(torch.equal(v, other.neurons[k]) for k, v in self.neurons.items()))

    def counts(self) -> dict[int, int]:
        """Neurons per layer, for the layers that have any."""
        return {layer: int(idx.numel()) for layer, idx in self.neurons.items()}

    def layers(self) -> list[int]:
        """Sorted layers holding at least one neuron."""
        return sorted(self.neurons)

    def _shape(self) -> tuple[int, int]:
        L, W = self.fingerprint.get("num_layers"), self.fingerprint.get("mlp_width")
        if L is None or W is None:
            raise NeuronSetError("the set's fingerprint lacks num_layers or mlp_width; build it from a model")
        return int(L), int(W)

    def mask(self) -> torch.Tensor:
        """(L, W) bool: True at every neuron of the set."""
        L, W = self._shape()
        out = torch.zeros(L, W, dtype=torch.bool)
        for layer, idx in self.neurons.items():
            out[layer, idx] = True
        return out

    def check(self, model_or_map: Any, note: bool = True) -> str | None:
        """Raise `NeuronSetError` naming every shape field that differs from `model_or_map`'s fingerprint.

        Other weights of the same shape (another revision, a fine-tune) are accepted: the one-line note
        naming both sources is returned and, if `note`, issued as a `KolangNote` warning (once per text).
        """
        other = fingerprint_of(model_or_map)
        diffs = [f"{label}: set {self.fingerprint[k]!r} vs model {other[k]!r}" for k, label in CHECKED_KEYS
                 if self.fingerprint.get(k) is not None and other.get(k) is not None and self.fingerprint[k] != other[k]]
        if diffs:
            raise NeuronSetError("this neuron set was found in another model (" + "; ".join(diffs) +
                                 "); run discovery on this model")
        mine, theirs = self.fingerprint.get("source"), other.get("source")
        if not isinstance(mine, Mapping) or not isinstance(theirs, Mapping) or same_source(mine, theirs):
            return None  # sets written before sources were recorded, and models built in memory, carry none
        text = (f"the neuron set was found in {describe(mine)} and is used on {describe(theirs)}, other weights of "
                "the same shape")
        if note:
            warnings.warn(text, KolangNote, stacklevel=1)  # one location, so each text is shown once
        return text

    # ---- derived sets ------------------------------------------------------------------------
    def _derived(self, neurons: Mapping[int, torch.Tensor], **changes: Any) -> "NeuronSet":
        kw = dict(method=self.method, target=self.target, reference=self.reference, params=self.params,
                  scores=self.scores, stats=self.stats)
        kw.update(changes)
        return NeuronSet(neurons, self.fingerprint, **kw)

    def restrict(self, layers: "str | range | Iterable[int]") -> "NeuronSet":
        """The neurons of this set in `layers` ("0:8", a range, or layer indices)."""
        L, _ = self._shape()
        keep = set(as_layers(layers, L))
        params = {**self.params, "restricted_to": sorted(keep)}
        return self._derived({l: v for l, v in self.neurons.items() if l in keep}, params=params)

    def random_matched(self, seed: int = 0, exclude_self: bool = True) -> "NeuronSet":
        """A control set with the same count per layer at random indices (disjoint from this set if `exclude_self`)."""
        L, W = self._shape()
        gen = torch.Generator().manual_seed(int(seed))
        out: dict[int, torch.Tensor] = {}
        for layer, idx in sorted(self.neurons.items()):
            pool = torch.arange(W)
            if exclude_self:
                keep = torch.ones(W, dtype=torch.bool)
                keep[idx] = False
                pool = pool[keep]
            if pool.numel() < idx.numel():
                raise NeuronSetError(f"layer {layer}: cannot draw {idx.numel()} random neurons disjoint from the set "
                                     f"out of {W}; use exclude_self=False")
            out[layer] = pool[torch.randperm(pool.numel(), generator=gen)[: idx.numel()]]
        params = {**self.params, "seed": int(seed), "exclude_self": bool(exclude_self), "matched_to": self.method}
        return NeuronSet(out, self.fingerprint, method="random", target=self.target, reference=self.reference,
                         params=params)

    # ---- artifact ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The readable part of the artifact (what `neurons.json` holds)."""
        return {
            "format": "kolang.neurons",
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "method": self.method,
            "target": self.target,
            "reference": self.reference,
            "params": self.params,
            "total": len(self),
            "counts": {str(k): v for k, v in self.counts().items()},
            "stats_languages": list(self.stats.languages) if self.stats is not None else None,
            "neurons": {str(k): v.tolist() for k, v in self.neurons.items()},
        }

    def save(self, path: str | Path, keep_text_means: bool = False) -> Path:
        """Write the artifact directory atomically; per-text means are large and kept only if asked."""
        tensors: dict[str, torch.Tensor] = {}
        if self.scores is not None:
            tensors["scores"] = self.scores.contiguous()
        if self.stats is not None:
            for k, v in self.stats.tensors().items():
                if keep_text_means or k not in ("text_means", "text_langs"):
                    tensors[f"stats.{k}"] = v
        try:
            json.dumps(self.params)
        except TypeError as e:
            raise NeuronSetError(f"the set's params are not JSON-serialisable: {e}") from None
        with atomic_dir(path, holds_only((JSON_NAME, TENSORS_NAME))) as tmp:
            save_file(tensors, str(tmp / TENSORS_NAME), metadata={"format_version": str(FORMAT_VERSION)})
            atomic_write_json(tmp / JSON_NAME, self.to_json())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, model: Any = None) -> "NeuronSet":
        """Read an artifact directory (or its neurons.json); if `model` is given, refuse a fingerprint mismatch."""
        path = Path(path)
        if path.is_file() and path.name == JSON_NAME:
            path = path.parent
        if not path.is_dir():
            raise NeuronSetError(f"no neuron set at '{path}': expected a directory with {JSON_NAME} and {TENSORS_NAME}")
        for name in (JSON_NAME, TENSORS_NAME):
            if not (path / name).is_file():
                raise NeuronSetError(f"'{path}' is not a neuron set: {name} is missing")
        try:
            meta = json.loads((path / JSON_NAME).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise NeuronSetError(f"{path / JSON_NAME} is not valid JSON: {e}") from None
        if not isinstance(meta, dict):
            raise NeuronSetError(f"{path / JSON_NAME} must hold a JSON object")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise NeuronSetError(f"{path / JSON_NAME}: format_version {version!r} is not supported (expected {FORMAT_VERSION})")
        for key, kind in (("fingerprint", dict), ("neurons", dict)):
            if not isinstance(meta.get(key), kind):
                raise NeuronSetError(f"{path / JSON_NAME}: '{key}' is missing or not a JSON object")
        neurons: dict[int, torch.Tensor] = {}
        for k, v in meta["neurons"].items():
            if not k.lstrip("-").isdigit() or not isinstance(v, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
                raise NeuronSetError(f"{path / JSON_NAME}: neurons['{k}'] must map a layer number to a list of integers")
            neurons[int(k)] = torch.tensor(v, dtype=torch.int64)
        try:
            tensors = load_file(str(path / TENSORS_NAME))
        except Exception as e:  # safetensors raises its own error types for truncated or foreign files
            raise NeuronSetError(f"{path / TENSORS_NAME} cannot be read: {e}") from None
        stats = None
        stat_tensors = {k.removeprefix("stats."): v for k, v in tensors.items() if k.startswith("stats.")}
        if stat_tensors:
            langs = meta.get("stats_languages")
            if not isinstance(langs, list):
                raise NeuronSetError(f"{path / JSON_NAME}: 'stats_languages' is missing but statistics are stored")
            try:
                stats = ActivationStats.from_tensors(langs, stat_tensors)
            except KeyError as e:
                raise NeuronSetError(f"{path / TENSORS_NAME}: statistics lack {e}") from None
        try:
            ns = cls(neurons, meta["fingerprint"], method=str(meta.get("method", "")), target=str(meta.get("target", "")),
                     reference=meta.get("reference") or [], params=meta.get("params") or {},
                     scores=tensors.get("scores"), stats=stats)
        except NeuronSetError as e:
            raise NeuronSetError(f"{path}: {e}") from None
        if model is not None:
            ns.check(model)
        return ns

    # ---- RUCAIBox LAPE activation_mask -------------------------------------------------------
    def to_lape_mask(self, path: str | Path | None = None) -> list[list[torch.Tensor]]:
        """This set as a one-language RUCAIBox `activation_mask` (list per language of list per layer of LongTensor)."""
        return save_lape_mask([self], path)

    @classmethod
    def from_lape_mask(cls, mask: "str | Path | Sequence[Sequence[torch.Tensor]]", model_or_fingerprint: Any,
                       lang: int = 0, target: str = "", method: str = "lape") -> "NeuronSet":
        """Read language `lang` of a RUCAIBox `activation_mask` (a file path or the loaded list) for a model."""
        fingerprint = fingerprint_of(model_or_fingerprint)
        if isinstance(mask, (str, Path)):
            try:
                mask = torch.load(str(mask), map_location="cpu", weights_only=True)
            except Exception as e:  # torch raises many types for a missing, truncated or pickled-object file
                raise NeuronSetError(f"cannot read LAPE activation mask '{mask}': {e}") from None
        if not isinstance(mask, (list, tuple)) or not mask or not all(isinstance(m, (list, tuple)) for m in mask):
            raise NeuronSetError("a LAPE activation mask is a list (per language) of lists (per layer) of index tensors")
        if not 0 <= lang < len(mask):
            raise NeuronSetError(f"language {lang} not in the mask, which holds {len(mask)} languages")
        per_layer = mask[lang]
        L = fingerprint.get("num_layers")
        if L is not None and len(per_layer) != L:
            raise NeuronSetError(f"the LAPE mask has {len(per_layer)} layers but the model has {L}")
        return cls({l: v for l, v in enumerate(per_layer)}, fingerprint, method=method, target=target,
                   params={"imported_from": "lape_activation_mask", "language_index": lang})

    # ---- hook sites in other tools -----------------------------------------------------------
    def tl_hook_names(self) -> dict[int, str]:
        """TransformerLens (TransformerBridge) hook of each layer's neuron values: `blocks.{l}.mlp.hook_post`."""
        return {layer: f"blocks.{layer}.mlp.hook_post" for layer in self.layers()}

    def nnsight_paths(self, model: Any) -> dict[int, str]:
        """Module path, per layer, whose `.input` is the neuron value (the down projection), e.g. `model.layers.3.mlp.down_proj`."""

        mm = resolve(_unwrap(model))
        self.check(mm)
        return {layer: mm.path(layer, "down") for layer in self.layers()}


def save_lape_mask(sets: Sequence[NeuronSet], path: str | Path | None = None) -> list[list[torch.Tensor]]:
    """Several sets (one per language, same model) as a RUCAIBox `activation_mask`, written atomically if `path`."""
    if not sets:
        raise NeuronSetError("no neuron sets to export")
    L, _ = sets[0]._shape()
    for s in sets[1:]:
        s.check(sets[0].fingerprint)
    empty = torch.zeros(0, dtype=torch.int64)
    out = [[s.neurons.get(layer, empty).clone() for layer in range(L)] for s in sets]
    if path is not None:
        buf = io.BytesIO()
        torch.save(out, buf)
        atomic_write_bytes(path, buf.getvalue())
    return out
