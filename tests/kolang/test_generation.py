"""`kolang.generation.sample` against `model.generate` and against a full forward pass."""

from __future__ import annotations

import pytest
import torch

from kolang.generation import next_tokens, sample
from kolang.tiny import TINY_FAMILIES, tiny_model

PROMPTS = [[72, 101, 108, 108, 111], [237, 149, 156], [84, 104, 101, 32, 97, 110, 115, 119, 101, 114, 32]]


def _hf_greedy(model, prompts, n, steps):
    from kolang.generation import left_pad

    ids, mask = left_pad([p for p in prompts for _ in range(n)], 0)
    out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=steps,
                         min_new_tokens=steps, pad_token_id=0, eos_token_id=None)
    return out[:, ids.shape[1]:]


def _cut(row: list[int], stop: int, pad: int) -> list[int]:
    """`row` up to and including its first `stop`, then `pad`."""
    if stop in row:
        k = row.index(stop) + 1
        return row[:k] + [pad] * (len(row) - k)
    return row


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_greedy_equals_generate_with_groups_and_early_stops(family, one_thread):
    model = tiny_model(family).eval()
    want = _hf_greedy(model, PROMPTS, 2, 10)  # (6, 10), left-padded prompts of three lengths
    got = sample(model, PROMPTS, 10, [], 0, n=2, temperature=0.0)
    assert torch.equal(got, want)
    # Stopping at a token some rows reach early drops them from the batch; the rest must go on unchanged.
    stop = int(want[0, 3])
    stopped = sample(model, PROMPTS, 10, [stop], 0, n=2, temperature=0.0, min_new_tokens=0)
    expected = [_cut(r, stop, 0) for r in want.tolist()]
    assert stopped.tolist() == [r[:stopped.shape[1]] for r in expected]
    assert all(t == 0 for r in expected for t in r[stopped.shape[1]:])  # only padding was left off


def test_sampled_rows_follow_the_model_distribution(one_thread):
    """Every drawn token has the probability a full forward pass gives it, and top-p keeps only the nucleus."""
    model = tiny_model("qwen2").eval()
    got = sample(model, PROMPTS[:2], 8, [], 0, n=3, temperature=0.7, top_p=0.9, seed=5)
    for r, row in enumerate(got.tolist()):
        p = PROMPTS[r // 3]
        with torch.no_grad():
            logits = model(torch.tensor([p + row])).logits[0, len(p) - 1: -1]  # (8, V)
        probs = torch.softmax(logits / 0.7, -1)
        for t, tok in enumerate(row):
            sorted_p = probs[t].sort(descending=True).values
            bar = sorted_p[(sorted_p.cumsum(0) - sorted_p <= 0.9)].min()  # smallest probability in the nucleus
            assert probs[t, tok] >= bar - 1e-6


def test_seeded_and_independent_of_the_global_rng(one_thread):
    model = tiny_model("qwen2").eval()
    torch.manual_seed(1)
    state = torch.get_rng_state()
    a = sample(model, PROMPTS, 6, [], 0, n=2, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(99)
    assert torch.equal(a, sample(model, PROMPTS, 6, [], 0, n=2, seed=3))
    assert not torch.equal(a, sample(model, PROMPTS, 6, [], 0, n=2, seed=4))


def test_min_new_tokens_and_tiny_top_p():
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 2.0]])
    assert next_tokens(logits, 0.0, 1.0, None).tolist() == [1, 0]
    assert next_tokens(logits, 1.0, 1e-6, torch.Generator().manual_seed(0)).tolist() == [1, 0]  # nucleus of one
    model = tiny_model("qwen2").eval()
    first = int(sample(model, PROMPTS[:1], 1, [], 0, temperature=0.0)[0, 0])
    forced = sample(model, PROMPTS[:1], 3, [first], 0, temperature=0.0, min_new_tokens=1)
    assert int(forced[0, 0]) != first  # the stop token cannot be the first token
