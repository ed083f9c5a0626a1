"""Shared batching: token-budget batches and completion-labelled batches."""

from __future__ import annotations

import math

import torch

from kolang.batching import IGNORE, completion_batch, completion_nll, packed_windows, token_batches
from kolang.tiny import byte_tokenizer


def test_token_batches_cover_every_text_once_within_budget():
    lengths = [5, 40, 12, 3, 33, 8, 21, 1]
    batches = token_batches(lengths, token_budget=48)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 48


def test_packed_windows_cut_each_groups_stream_and_drop_its_remainder():
    tok = byte_tokenizer()  # one id a byte
    texts = ["abcde", "xy", "fgh", "z" * 9, "ij"]
    groups = [0, 1, 0, 1, 0]
    got = [(g, "".join(tok.convert_ids_to_tokens(w.tolist()))) for g, w in packed_windows(tok, texts, groups, window=4,
                                                                                          chunk_texts=2)]
    # group 0: "abcdefghij" -> abcd, efgh (ij dropped); group 1: "xyzzzzzzzzz" -> xyzz, zzzz (zzz dropped)
    assert got == [(0, "abcd"), (0, "efgh"), (1, "xyzz"), (1, "zzzz")]  # in the order the windows fill


def test_completion_batch_labels_only_the_completion():
    ids, mask, labels = completion_batch([([1, 2, 3, 4], 2), ([5, 6, 7], 1), ([8], 0)], pad_id=0)
    assert ids.tolist() == [[1, 2, 3, 4], [5, 6, 7, 0], [8, 0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]]
    assert labels.tolist() == [[IGNORE, IGNORE, 3, 4], [IGNORE, 6, 7, IGNORE], [8, IGNORE, IGNORE, IGNORE]]


def test_completion_nll_is_the_mean_log_loss_of_the_labelled_next_tokens():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 9)
    _, _, labels = completion_batch([([1, 2, 3, 4], 2), ([5, 6, 7], 1)], pad_id=0)
    logp = logits.log_softmax(-1)
    # position t predicts token t+1: scored are (row 0: 3, 4) and (row 1: 6, 7)
    want = -(logp[0, 1, 3] + logp[0, 2, 4] + logp[1, 0, 6] + logp[1, 1, 7])
    assert math.isclose(float(completion_nll(logits, labels, reduction="sum")), float(want), rel_tol=1e-6)
    assert math.isclose(float(completion_nll(logits, labels)), float(want) / 4, rel_tol=1e-6)
