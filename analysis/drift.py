"""Neuron drift: how far a language's neurons move from where training started.

At fixed steps the activation statistics are re-collected on a fixed probe set, the neurons are
re-selected with the *same* method and parameters as the tracked set, and compared with the start:
overlap (IoU) of the selected sets, Spearman rank correlation of the scores, the shift of the
target language's activation probability for the tracked neurons vs all others, and the weight
deltas of the tracked neurons vs the other neurons vs every other weight, per layer.

Comparing with a re-selection on the probe set at step 0 (not with the set as discovered on a
larger corpus) keeps the probe's own sampling noise out of the drift: at step 0 every measure is
exactly "no drift". Only the weights that can change are copied at the start (trained parameters,
PEFT-adapted layers), on the CPU, in their own dtype, so the copy is exact and never larger than
the trained part of the model.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from kolang.analysis.config import DEFAULT_EVERY, DEFAULT_PROBE_SIZE, WEIGHT_MODES, DriftConfig
from kolang.arch import resolve
from kolang.data.sentences import parallel_sentences
from kolang.data.tasks import discovery_records, generate
from kolang.errors import ConfigError, DataError, NeuronSetError
from kolang.io import append_jsonl
from kolang.models import resident
from kolang.neurons.neuronset import NeuronSet
from kolang.neurons.select import REGISTRY, get_method, select_neurons
from kolang.neurons.stats import ActivationStats, collect_stats

# ---- probe set ------------------------------------------------------------------------------------


def probe_set_from_tasks(n: int = DEFAULT_PROBE_SIZE, seed: int = 0, langs: Sequence[str] = ("ko", "en"),
                         ) -> tuple[list[str], list[str]]:
    """`n` parallel probe texts per language from the bundled data: half word problems with their
    solutions, half everyday sentences; the same seed gives the same probe. Returns (texts, langs)."""

    langs = list(dict.fromkeys(langs))
    if n < 1:
        raise ConfigError(f"the probe needs at least one text per language, got n={n}")
    unknown = sorted(set(langs) - {"ko", "en"})
    if unknown or len(langs) < 2:
        raise DataError(f"the bundled probe holds Korean and English only (asked for {', '.join(langs)}); "
                        "pass your own probe texts for other languages")
    n_tasks = n // 2
    texts, out_langs = [], []
    for rec in discovery_records(generate(n_tasks, seed), langs):
        texts.append(rec["text"])
        out_langs.append(rec["lang"])
    for pair in parallel_sentences(n - n_tasks, seed):
        for lang in langs:
            texts.append(pair[lang])
            out_langs.append(lang)
    return texts, out_langs


# ---- rank correlation -------------------------------------------------------------------------------

def average_ranks(x: torch.Tensor) -> torch.Tensor:
    """(n,) float64 ranks 1..n of the 1-D `x`, tied values sharing their mean rank (scipy's rankdata)."""
    n = x.numel()
    xs, order = torch.sort(x.flatten(), stable=True)
    new = torch.ones(n, dtype=torch.bool)
    new[1:] = xs[1:] != xs[:-1]  # first element of each run of equal values
    group = torch.cumsum(new, 0) - 1  # (n,) run index of each sorted element
    starts = new.nonzero().flatten()
    ends = torch.cat([starts[1:], torch.tensor([n])])
    mean_rank = (starts + ends - 1).double() / 2 + 1  # positions start..end-1, 1-based
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[order] = mean_rank[group]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Spearman's rho of two score tensors over the positions where both are finite; None if undefined."""
    a, b = a.flatten().double().cpu(), b.flatten().double().cpu()
    ok = torch.isfinite(a) & torch.isfinite(b)
    if int(ok.sum()) < 2:
        return None
    ra, rb = average_ranks(a[ok]), average_ranks(b[ok])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((ra * ra).sum()) * float((rb * rb).sum()))
    return float((ra * rb).sum()) / den if den > 0 else None  # a constant score has no ranking


def iou(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """|a & b| / |a | b| of two bool masks; None when both are empty."""
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else None


# ---- weights as the forward pass sees them -----------------------------------------------------------

def base_model(model: nn.Module) -> nn.Module:
    """The HF model inside a PEFT wrapper (adapter layers stay injected in it), else `model`."""
    return model.get_base_model() if hasattr(model, "get_base_model") and hasattr(model, "peft_config") else model


def effective_weights(model: nn.Module) -> Iterator[tuple[str, torch.Tensor, bool]]:
    """(name, weight, can_train) for every parameter, with unmerged PEFT adapter deltas folded in.

    An adapted layer's weight is reported under the plain layer's name (`…gate_proj.weight`, not
    `…base_layer.weight`) as `base + sum of active adapters' get_delta_weight`, so the names match
    `ModelMap.neuron_slices` and a LoRA or sparse-neuron run is measured like a full one. Adapter
    bias deltas (the sparse adapter's optional bias) are not folded in. Weights a device map
    offloaded to the CPU or disk are read back from there.
    """
    base = base_model(model)
    tuned: list[str] = []
    for mname, mod in base.named_modules():
        if not isinstance(mod, BaseTunerLayer) or any(mname.startswith(t) for t in tuned):
            continue
        tuned.append(mname + ".")
        inner = mod.get_base_layer()
        adapters_train = any(p.requires_grad for n, p in mod.named_parameters() if "base_layer" not in n)
        for pname, p in inner.named_parameters(recurse=False):
            w = resident(inner, pname)
            if pname == "weight":
                merged = set(getattr(mod, "merged_adapters", []))
                for a in mod.active_adapters:
                    if a in merged:
                        continue
                    try:
                        w = w + mod.get_delta_weight(a).detach().to(w.dtype)
                    except (KeyError, AttributeError):  # this layer holds no such adapter
                        continue
            yield f"{mname}.{pname}", w, p.requires_grad or adapters_train
    for name, p in base.named_parameters():
        if not any(name.startswith(t) for t in tuned):
            owner, _, pname = name.rpartition(".")
            yield name, resident(base.get_submodule(owner), pname), p.requires_grad


# ---- the tracker ---------------------------------------------------------------------------------------

def _clean(x: Any) -> Any:
    """NaN/inf become None, so each line is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    return x


def _per_layer(values: Mapping[int, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in sorted(values.items())}


def _strategy(ns: NeuronSet) -> dict[str, Any]:
    """How many neurons a re-selection takes: the set's own strategy when it has one, else as many per layer as it has."""
    own = {k: ns.params[k] for k in ("top_fraction", "per_layer", "layers") if ns.params.get(k) is not None}
    if "top_fraction" in own or "per_layer" in own:
        return own
    counts = ns.counts()
    return {"per_layer": max(counts.values()), "layers": sorted(counts)} if counts else own


class DriftTracker:
    """Snapshots a model's language neurons at the start and measures their drift at later steps.

    `neuron_set` is the tracked set (its method and parameters are re-run on the probe set);
    `probe_texts`/`probe_langs` the fixed probe (see `probe_set_from_tasks`). `every` is the
    interval `due(step)` answers for; `weights` chooses what is copied at the start: "trainable"
    (what can change), "neurons" (only MLP neuron parameters; no delta for other weights), "all".
    `selection` overrides the re-selection as {"method": …, parameters …} (needed for sets that
    cannot be re-run, e.g. random or imported ones). `out`, if set, gets one JSON line a measurement.
    """

    def __init__(self, neuron_set: NeuronSet, probe_texts: Sequence[str], probe_langs: Sequence[str], tokenizer: Any,
                 every: int = DEFAULT_EVERY, *, max_length: int = 128, token_budget: int = 8192,
                 weights: str = "trainable", selection: Mapping[str, Any] | None = None,
                 out: str | Path | None = None) -> None:
        if int(every) < 1:
            raise ConfigError(f"the drift interval must be at least 1 step, got {every}")
        if weights not in WEIGHT_MODES:
            raise ConfigError(f"weights must be one of {', '.join(WEIGHT_MODES)}, got '{weights}'")
        if len(probe_texts) != len(probe_langs) or not probe_texts:
            raise DataError(f"the probe needs texts with one language label each (got {len(probe_texts)} texts, "
                            f"{len(probe_langs)} labels)")
        self.ns, self.tok, self.every = neuron_set, tokenizer, int(every)
        self.texts, self.langs = list(probe_texts), list(probe_langs)
        self.languages = sorted(set(self.langs))
        self.max_length, self.token_budget, self.weights = max_length, token_budget, weights
        self.out = Path(out) if out is not None else None
        self.select_kw = self._selection(selection)
        self.tracked = neuron_set.mask()  # (L, W) bool — the neurons the set names (those being trained)
        # A set discovered from some layers only (`--layers 0:8`) is re-selected from the same layers,
        # read the same way: LAPE's quantiles run over the layers read.
        self.read = neuron_set.stats.layers if neuron_set.stats is not None else None
        self.started = False

    @classmethod
    def from_config(cls, neuron_set: NeuronSet, tokenizer: Any, cfg: DriftConfig = DriftConfig(),
                    probe: tuple[Sequence[str], Sequence[str]] | None = None, **kw: Any) -> "DriftTracker":
        """A tracker as `cfg` says, on `probe` (texts, langs) or the bundled probe in the set's target and first reference."""
        if probe is None:
            probe = probe_set_from_tasks(cfg.probe_size, cfg.probe_seed,
                                         list(dict.fromkeys([neuron_set.target, *neuron_set.reference, "en", "ko"]))[:2])
        if cfg.reselect is not None and "selection" not in kw:
            kw["selection"] = {"method": cfg.reselect, **_strategy(neuron_set)}
        return cls(neuron_set, probe[0], probe[1], tokenizer, cfg.every, max_length=cfg.max_length,
                   token_budget=cfg.token_budget, weights=cfg.weights, **kw)

    def _selection(self, override: Mapping[str, Any] | None) -> dict[str, Any]:
        """Keyword arguments of `select_neurons` that reproduce the set's selection on the probe."""

        ns = self.ns
        if ns.target not in self.languages:
            raise DataError(f"the probe has no text in the set's target language '{ns.target}' "
                            f"(it has {', '.join(self.languages)})")
        refs = [r for r in ns.reference if r in self.languages and r != ns.target] or None
        if override is not None:
            kw = dict(override)
            get_method(kw.setdefault("method", ns.method))
            return {"target": ns.target, "reference": refs, **kw}
        if ns.method not in REGISTRY:
            raise ConfigError(f"the set was made by '{ns.method or 'an unknown method'}', which cannot be re-run on "
                              f"the probe; choose one to re-select with: --reselect (DriftConfig.reselect) "
                              f"{', '.join(sorted(REGISTRY))}")
        names = {f.name for f in dataclasses.fields(get_method(ns.method).config)}
        kw = {k: v for k, v in ns.params.items() if k in names or k in ("top_fraction", "per_layer", "layers")}
        return {"method": ns.method, "target": ns.target, "reference": refs, **kw}

    def due(self, step: int) -> bool:
        """True at every `every`-th step."""
        return step > 0 and step % self.every == 0

    # -- statistics and selection --

    def _observe(self, model: nn.Module) -> tuple[ActivationStats, torch.Tensor, torch.Tensor | None]:
        """Probe statistics, the re-selected (L, W) mask and its (L, W) scores (None if nothing passed)."""

        hf = base_model(model)
        was_training = hf.training
        hf.eval()  # no dropout while probing
        try:
            stats = collect_stats(hf, self.tok, self.texts, self.langs, languages=self.languages, layers=self.read,
                                  max_length=self.max_length, token_budget=self.token_budget,
                                  keep_text_means=self.select_kw["method"] == "ap")
        finally:
            hf.train(was_training)
        stats = stats.to("cpu")
        try:
            sel = select_neurons(stats, model=hf, **self.select_kw)
        except NeuronSetError:  # nothing passes the method's bar any more: the set has vanished
            L, W = stats.num_layers, stats.width
            return stats, torch.zeros(L, W, dtype=torch.bool), None
        return stats, sel.mask(), sel.scores

    def start(self, model: nn.Module) -> dict[str, Any]:
        """Take the step-0 snapshot (probe statistics, re-selection, weight copy); returns the step-0 record."""
        t0 = time.perf_counter()
        hf = base_model(model)
        self.ns.check(hf)
        self.mm = resolve(hf)
        self.stats0, self.mask0, self.scores0 = self._observe(model)
        if not self.mask0.any():
            raise DataError(f"re-selecting with {self.select_kw['method']} on the {len(self.texts)} probe texts "
                            "selects no neuron; use a larger probe")
        self.layers = [int(x) for x in self.select_kw.get("layers") or range(self.mm.num_layers)]
        self.g = self.stats0.lang_index(self.ns.target)
        self.prob0 = self.stats0.prob()[:, self.g].cpu()  # (L, W) float64
        # name -> [(layer, dim, offset)] of every parameter slice that holds neurons
        self.slices: dict[str, list[tuple[int, int, int]]] = {}
        for layer in range(self.mm.num_layers):
            for name, _p, dim, offset in self.mm.neuron_slices(layer):
                self.slices.setdefault(name, []).append((layer, dim, offset))
        names = {id(m): n for n, m in hf.named_modules()}
        self.block_prefix = [names[id(self.mm.block(layer))] + "." for layer in range(self.mm.num_layers)]
        self.snapshot = {name: w.to("cpu", copy=True) for name, w, can_train in effective_weights(model)
                         if self.weights == "all" or (self.weights == "trainable" and can_train)
                         or (self.weights == "neurons" and name in self.slices)}
        self.started = True
        self.record0 = self._record(0, self.stats0, self.mask0, self.scores0, model)
        self.record0["measure_s"] = round(time.perf_counter() - t0, 4)  # the start: statistics, selection, copy
        return self.record0

    def snapshot_bytes(self) -> int:
        """Bytes held by the start's weight copy."""
        return sum(t.numel() * t.element_size() for t in self.snapshot.values())

    # -- measurement --

    def _weight_deltas(self, model: nn.Module) -> dict[str, Any]:
        """Per-layer weight-delta norms: tracked vs other neurons (RMS of per-neuron L2), other weights (L2)."""
        L, W = self.mm.num_layers, self.mm.width
        per_neuron = torch.zeros(L, W, dtype=torch.float64)  # squared L2 of each neuron's delta (all its slices)
        other = [0.0] * L
        outside = 0.0
        for name, w, _ in effective_weights(model):
            if name not in self.snapshot:
                continue  # frozen since the start, or not tracked (weights="neurons")
            d = w.float() - self.snapshot[name].to(w.device).float()
            rest = float(d.double().pow(2).sum())
            for layer, dim, offset in self.slices.get(name, []):
                part = d.narrow(dim, offset, W)  # neuron i is index i along `dim`
                sq = part.double().pow(2)
                others = [a for a in range(part.dim()) if a != dim]
                sq = (sq.sum(dim=others) if others else sq).cpu()  # (W,); sum(dim=[]) would sum everything
                per_neuron[layer] += sq
                rest -= float(sq.sum())
            layer = next((i for i, p in enumerate(self.block_prefix) if name.startswith(p)), None)
            if layer is None:
                outside += max(rest, 0.0)
            else:
                other[layer] += max(rest, 0.0)

        def rms(sq: torch.Tensor) -> float | None:
            return math.sqrt(float(sq.mean())) if sq.numel() else None

        t = self.tracked
        measured_other = self.weights != "neurons"
        return {
            "delta_selected": rms(per_neuron[t]),
            "delta_unselected": rms(per_neuron[~t]),
            "delta_other": math.sqrt(sum(other)) if measured_other else None,
            "delta_outside_layers": math.sqrt(outside) if measured_other else None,
            "delta_selected_per_layer": _per_layer({l: rms(per_neuron[l][t[l]]) for l in range(L) if t[l].any()}),
            "delta_unselected_per_layer": _per_layer({l: rms(per_neuron[l][~t[l]]) for l in range(L)}),
            "delta_other_per_layer": _per_layer({l: math.sqrt(other[l]) for l in range(L)}) if measured_other else None,
        }

    def _record(self, step: int, stats: ActivationStats, mask: torch.Tensor, scores: torch.Tensor | None,
                model: nn.Module) -> dict[str, Any]:
        t, lay, read = self.tracked, self.layers, stats.read_layers
        dp = stats.prob()[:, self.g].cpu() - self.prob0  # (L, W) shift of P(active) on target-language tokens
        other = ~t
        other[[layer for layer in range(len(t)) if layer not in read]] = False  # unread layers have no p

        def mean(x: torch.Tensor) -> float | None:
            return float(x.mean()) if x.numel() else None

        rec: dict[str, Any] = {
            "step": int(step),
            "probe_texts": len(self.texts),
            "probe_tokens": int(stats.tokens.sum()),
            "method": self.select_kw["method"],
            "selected": int(mask.sum()),
            "selected_start": int(self.mask0.sum()),
            "iou": iou(mask[lay], self.mask0[lay]),
            "iou_per_layer": _per_layer({l: iou(mask[l], self.mask0[l]) for l in lay}),
            "iou_vs_set": iou(mask, t),
            "rank_corr": spearman(scores[lay], self.scores0[lay]) if scores is not None else None,
            "rank_corr_per_layer": _per_layer({l: spearman(scores[l], self.scores0[l]) if scores is not None else None
                                               for l in lay}),
            "dp_abs_selected": mean(dp[t].abs()),
            "dp_abs_other": mean(dp[other].abs()),
            "dp_selected": mean(dp[t]),
            "dp_other": mean(dp[other]),
            "dp_abs_selected_per_layer": _per_layer({l: mean(dp[l][t[l]].abs()) for l in range(len(t)) if t[l].any()}),
            "dp_abs_other_per_layer": _per_layer({l: mean(dp[l][~t[l]].abs()) for l in read}),
        }
        rec.update(self._weight_deltas(model))
        return _clean(rec)

    def measure(self, step: int, model: nn.Module) -> dict[str, Any]:
        """Re-collect, re-select and compare with the start; appends the record to `out` if set and returns it."""
        if not self.started:
            raise ConfigError("call DriftTracker.start(model) before training, so drift has a starting point")
        # a later model of another shape than the start is refused, not misread; other weights are the point of drift
        self.ns.check(base_model(model), note=False)
        t0 = time.perf_counter()
        stats, mask, scores = self._observe(model)
        rec = self._record(step, stats, mask, scores, model)
        rec["measure_s"] = round(time.perf_counter() - t0, 4)  # all of it: probe, re-selection, weight deltas
        if self.out is not None:
            append_jsonl(self.out, rec)
        return rec

    def __call__(self, step: int, model: nn.Module) -> dict[str, Any] | None:
        """Measure when `due(step)`; `kolang.rl.drift.attach` wraps this for the GRPO loop (start line, last step, resume)."""
        return self.measure(step, model) if self.due(step) else None


# ---- figure ----------------------------------------------------------------------------------------------

