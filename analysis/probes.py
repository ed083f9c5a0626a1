"""Linear probes: how well each layer's MLP neuron values tell a token's language.

A logistic-regression probe per layer (Alain & Bengio, 2016; Belinkov, "Probing Classifiers",
Computational Linguistics 2022) is trained on the neuron values of a sample of tokens and scored
on tokens of *other texts*: splitting by text, not by token, keeps neighbouring tokens of one
sentence from leaking the answer across the split. Neuron values are captured with the one hook
engine (`capture_mlp`), on a few sampled positions a text, so memory is tokens x width a layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from kolang.arch import resolve
from kolang.batching import encoded_batches
from kolang.errors import DataError
from kolang.neurons.hooks import capture_mlp
from kolang.neurons.neuronset import neuron_index


@dataclass
class ProbeData:
    """Neuron values of sampled tokens, with each token's language and text."""

    languages: list[str]
    features: dict[int, np.ndarray]  # layer -> (N, width) float32 neuron values
    labels: np.ndarray  # (N,) int64 index into `languages` (the language of the token's text)
    groups: np.ndarray  # (N,) int64 index of the text the token came from


def probe_features(model: nn.Module, tokenizer: Any, texts: Sequence[str], langs: Sequence[str], *,
                   layers: Iterable[int] | None = None, tokens_per_text: int = 8, max_length: int = 128,
                   seed: int = 0) -> ProbeData:
    """Capture the neuron values of up to `tokens_per_text` random real tokens of each text, per layer."""
    if len(texts) != len(langs):
        raise DataError(f"{len(texts)} texts but {len(langs)} language labels")
    languages = sorted(set(langs))
    if len(languages) < 2:
        raise DataError(f"probes need texts in at least two languages, got {languages}")
    mm = resolve(model)
    layers = list(range(mm.num_layers)) if layers is None else sorted(set(int(x) for x in layers))
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    chunks: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    labels: list[int] = []
    groups: list[int] = []
    sel: torch.Tensor | None = None

    def keep(layer: int, value: torch.Tensor, _act: torch.Tensor | None) -> None:
        chunks[layer].append(value[sel].float().cpu())  # (n, width)

    with torch.inference_mode(), capture_mlp(mm, keep, layers):
        for b in encoded_batches(tokenizer, texts, max_length=max_length, token_budget=4096):
            sel = torch.zeros_like(b.counted)  # (B, T) bool: the sampled positions
            for r, i in enumerate(b.index):
                pos = b.counted[r].nonzero().flatten()
                pick = pos[torch.randperm(pos.numel(), generator=gen)[:tokens_per_text]].sort().values
                sel[r, pick] = True
                labels += [languages.index(langs[i])] * pick.numel()
                groups += [i] * pick.numel()
            sel = sel.to(device)
            model(input_ids=b.input_ids.to(device), attention_mask=b.attention_mask.to(device), use_cache=False)
    if not labels:
        raise DataError("no tokens to probe: every text encoded to special tokens only")
    features = {layer: torch.cat(chunks[layer]).numpy() for layer in layers}
    return ProbeData(languages, features, np.asarray(labels, dtype=np.int64), np.asarray(groups, dtype=np.int64))


@torch.no_grad()
def token_values(model: nn.Module, tokenizer: Any, text: str, neurons: Any = None) -> tuple[list[str], dict[int, torch.Tensor]]:
    """The tokens of `text` and, per layer, their neuron values: (T, width), or (T, k) for a set's k neurons there.

    `neurons` is a `NeuronSet` or a {layer: indices} mapping; only its layers are captured.
    """

    mm = resolve(model)
    index = neuron_index(neurons) if neurons is not None else None
    if hasattr(neurons, "check"):
        neurons.check(mm)
    out: dict[int, torch.Tensor] = {}

    def keep(layer: int, value: torch.Tensor, _act: torch.Tensor | None) -> None:
        v = value[0].float().cpu()  # (T, width)
        out[layer] = v[:, index[layer]] if index is not None else v

    ids = tokenizer(text, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
    if ids.shape[1] == 0:
        raise DataError(f"the tokenizer encodes {text[:40]!r} to no tokens")
    with capture_mlp(mm, keep, index.keys() if index is not None else None):
        model(input_ids=ids, use_cache=False)
    return tokenizer.batch_decode([[int(i)] for i in ids[0]]), out


def split_by_text(data: ProbeData, test_fraction: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (N,) train and test masks; each language's texts are split, so no text is on both sides."""
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    test_texts: set[int] = set()
    for g in range(len(data.languages)):
        texts = np.unique(data.groups[data.labels == g])
        if texts.size < 2:
            raise DataError(f"language '{data.languages[g]}' has {texts.size} text(s); a held-out split needs 2 or more")
        n_test = min(texts.size - 1, max(1, int(round(test_fraction * texts.size))))
        test_texts.update(int(t) for t in rng.permutation(texts)[:n_test])
    test = np.isin(data.groups, sorted(test_texts))
    return ~test, test


def fit_probes(data: ProbeData, *, test_fraction: float = 0.25, seed: int = 0, C: float = 1.0,
               max_iter: int = 2000) -> dict[str, Any]:
    """Train one standardised logistic-regression probe per layer; held-out accuracy on unseen texts."""

    train, test = split_by_text(data, test_fraction, seed)
    y_tr, y_te = data.labels[train], data.labels[test]
    majority = int(np.bincount(y_tr, minlength=len(data.languages)).argmax())
    rows = []
    for layer, X in sorted(data.features.items()):
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
        probe.fit(X[train], y_tr)
        rows.append({"layer": layer, "train_accuracy": float(probe.score(X[train], y_tr)),
                     "test_accuracy": float(probe.score(X[test], y_te))})
    return {
        "languages": data.languages,
        "n_train": int(train.sum()), "n_test": int(test.sum()),
        "texts_train": int(np.unique(data.groups[train]).size), "texts_test": int(np.unique(data.groups[test]).size),
        "majority_baseline": float((y_te == majority).mean()),
        "C": C, "seed": seed,
        "layers": rows,
    }


def language_probes(model: nn.Module, tokenizer: Any, texts: Sequence[str], langs: Sequence[str], *,
                    layers: Iterable[int] | None = None, tokens_per_text: int = 8, test_fraction: float = 0.25,
                    seed: int = 0, C: float = 1.0, max_length: int = 128) -> dict[str, Any]:
    """`probe_features` then `fit_probes`: held-out accuracy of a language probe on each layer's neurons."""
    data = probe_features(model, tokenizer, texts, langs, layers=layers, tokens_per_text=tokens_per_text,
                          max_length=max_length, seed=seed)
    return fit_probes(data, test_fraction=test_fraction, seed=seed, C=C)


