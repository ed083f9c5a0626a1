"""Language probes: features equal a raw down-projection pre-hook, the split never shares a text, real
labels are decodable from the neurons and labels shuffled across texts are not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kolang.analysis.probes import (ProbeData, fit_probes, language_probes, probe_features,
                                    split_by_text, token_values)
from kolang.analysis.plots import probes_figure
from kolang.data.discovery import records_to_texts
from kolang.data.sentences import parallel_sentences
from kolang.errors import DataError


@pytest.fixture(scope="module")
def organism(micro_organism):
    from kolang.models import load_model

    return load_model(micro_organism)


@pytest.fixture(scope="module")
def corpus():
    return records_to_texts(parallel_sentences(40, seed=3))


def _raw_values(model, ids):
    """Neuron values of one unpadded text by a plain forward pre-hook on every down projection."""
    out, handles = {}, []
    for layer, block in enumerate(model.model.layers):
        handles.append(block.mlp.down_proj.register_forward_pre_hook(
            lambda _m, args, layer=layer: out.__setitem__(layer, args[0][0].detach().clone())))
    with torch.no_grad():
        model(input_ids=ids)
    for h in handles:
        h.remove()
    return out  # layer -> (T, width)


def test_features_equal_raw_prehook_per_text(organism, corpus):
    model, tok = organism
    texts, langs = corpus[0][:6], corpus[1][:6]
    data = probe_features(model, tok, texts, langs, tokens_per_text=1000)  # every real token of every text
    assert data.languages == sorted(set(langs))
    for i, text in enumerate(texts):
        ids = tok(text, return_tensors="pt")["input_ids"]
        raw = _raw_values(model, ids)
        rows = data.groups == i
        assert rows.sum() == ids.shape[1]  # the organism's tokenizer adds no special tokens
        assert (data.labels[rows] == data.languages.index(langs[i])).all()
        for layer, X in data.features.items():
            np.testing.assert_allclose(X[rows], raw[layer].numpy(), atol=1e-5, rtol=1e-5)
    # token_values reads the same values for one text, for a whole layer or a set's neurons.
    tokens, values = token_values(model, tok, texts[0])
    raw = _raw_values(model, tok(texts[0], return_tensors="pt")["input_ids"])
    assert len(tokens) == values[0].shape[0]
    torch.testing.assert_close(values[1], raw[1])
    _, some = token_values(model, tok, texts[0], {1: [3, 7, 40]})
    assert list(some) == [1]
    torch.testing.assert_close(some[1], raw[1][:, [3, 7, 40]])


def test_sampling_takes_at_most_k_tokens_per_text(organism, corpus):
    model, tok = organism
    data = probe_features(model, tok, *corpus, tokens_per_text=3, layers=[1], seed=5)
    counts = np.bincount(data.groups, minlength=len(corpus[0]))
    assert counts.max() == 3 and (counts >= 1).all()
    assert list(data.features) == [1] and data.features[1].shape == (len(data.labels), model.config.intermediate_size)
    again = probe_features(model, tok, *corpus, tokens_per_text=3, layers=[1], seed=5)
    np.testing.assert_array_equal(again.features[1], data.features[1])


def test_split_by_text_keeps_texts_whole_and_languages_on_both_sides():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 4)
    labels = (groups >= 10).astype(np.int64)
    data = ProbeData(["en", "ko"], {0: rng.normal(size=(80, 5)).astype(np.float32)}, labels, groups)
    train, test = split_by_text(data, 0.3, seed=1)
    assert not (train & test).any() and (train | test).all()
    assert not set(groups[train]) & set(groups[test])
    for g in (0, 1):
        assert labels[test].tolist().count(g) == 12 and labels[train].tolist().count(g) == 28  # 3 of 10 texts each
    with pytest.raises(DataError):
        split_by_text(ProbeData(["en", "ko"], {}, np.array([0, 1]), np.array([0, 1])))
    with pytest.raises(DataError):
        split_by_text(data, 1.5)


def test_probe_reads_language_and_not_shuffled_labels(organism, corpus):
    model, tok = organism
    texts, langs = corpus
    result = language_probes(model, tok, texts, langs, tokens_per_text=6)
    assert [r["layer"] for r in result["layers"]] == [0, 1]
    assert result["n_test"] > 0 and result["texts_test"] == 20  # a quarter of 40 texts a language
    assert result["majority_baseline"] == pytest.approx(0.5, abs=0.1)
    # Digits, spaces and punctuation occur in both languages, so a small model's probe stays below 1.
    assert all(r["test_accuracy"] > 0.75 for r in result["layers"]), result
    # Languages shuffled between texts: nothing generalises to unseen texts, whatever the training fit.
    perm = np.random.default_rng(0).permutation(len(langs))
    shuffled = [langs[i] for i in perm]
    control = language_probes(model, tok, texts, shuffled, tokens_per_text=6)
    assert all(r["test_accuracy"] < 0.65 for r in control["layers"]), control
    for real, ctl in zip(result["layers"], control["layers"]):
        assert real["test_accuracy"] > ctl["test_accuracy"] + 0.2
    fig = probes_figure(result)
    assert list(fig.data[0].y) == [r["test_accuracy"] for r in result["layers"]]


def test_probe_errors(organism):
    model, tok = organism
    with pytest.raises(DataError):
        probe_features(model, tok, ["hello", "world"], ["en", "en"])
    with pytest.raises(DataError):
        probe_features(model, tok, ["hello"], ["en", "ko"])
    data = probe_features(model, tok, ["hello there", "안녕하세요", "good day", "반갑습니다"], ["en", "ko", "en", "ko"])
    assert fit_probes(data, test_fraction=0.5)["texts_test"] == 2
