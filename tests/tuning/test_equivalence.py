"""Sparse adapter == dense gradient masking under plain SGD (same weights after several steps)."""

from __future__ import annotations

import pytest
import torch

from kolang.tiny import tiny_model
from kolang.tuning.merge import merged_model
from kolang.tuning.trainable import prepare

NEURONS = {0: [1, 4, 8, 30], 1: [2, 60]}


def _train(kind, family, steps=5, wd=0.0):
    model = tiny_model(family, layers=3)
    tr = prepare(model, kind, [0, 1], NEURONS, train_bias=True)
    opt = torch.optim.SGD(tr.params, lr=0.5)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        ids = torch.randint(0, 256, (3, 10), generator=g)
        loss = tr.model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return merged_model(tr.model).state_dict()


@pytest.mark.parametrize("family", ("qwen2", "gpt2", "phi3"))
def test_adapter_equals_gradient_mask(family):
    sparse, dense = _train("neurons", family), _train("gradmask", family)
    base = tiny_model(family, layers=3).state_dict()
    moved = 0
    for name, w in sparse.items():
        assert torch.allclose(w, dense[name], atol=1e-6, rtol=1e-5), name
        moved += int((dense[name] != base[name]).sum())
    assert moved > 0
