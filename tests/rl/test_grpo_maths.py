"""GRPO advantages and loss against a NumPy reference written independently here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kolang.rl.advantages import group_advantages
from kolang.rl.loss import aggregate, grpo_loss, per_token_loss

G = 4
REWARDS = np.array([1.0, 0.0, 0.5, 0.5, 2.0, 2.0, 2.0, 2.0, 0.0, 1.0, 0.0, 3.0])


def np_advantages(r, g, scale):
    out = []
    groups = r.reshape(-1, g)
    for grp in groups:
        c = grp - grp.mean()
        if scale == "group":
            c = c / (np.std(grp, ddof=1) + 1e-4)
        elif scale == "batch":
            c = c / (np.std(r, ddof=1) + 1e-4)
        out.extend(c)
    return np.array(out)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_advantages_match_numpy(scale):
    got = group_advantages(torch.tensor(REWARDS), G, scale).numpy()
    np.testing.assert_allclose(got, np_advantages(REWARDS, G, scale), rtol=1e-5, atol=1e-6)
    assert np.allclose(got[4:8], 0.0)  # an all-equal group has no signal


def np_loss(logp, old, adv, mask, eps, eps_high, beta, ref, how, max_len, kl_correction=True):
    B, T = logp.shape
    loss = np.zeros((B, T))
    for b in range(B):
        for t in range(T):
            ratio = np.exp(logp[b, t] - old[b, t])
            lo, hi = 1 - eps, 1 + eps_high
            clipped = min(max(ratio, lo), hi)
            loss[b, t] = -min(ratio * adv[b], clipped * adv[b])
            if beta:
                d = ref[b, t] - logp[b, t]
                k3 = np.exp(d) - d - 1
                loss[b, t] += beta * (ratio * k3 if kl_correction else k3)  # importance-weighted (DeepSeek-V3.2)
    if how == "token":
        return (loss * mask).sum() / mask.sum()
    if how == "sequence":
        return np.mean([(loss[b] * mask[b]).sum() / mask[b].sum() for b in range(B)])
    return (loss * mask).sum() / (B * max_len)


def fixed_batch():
    rng = np.random.default_rng(0)
    B, T = 6, 5
    old = np.log(rng.uniform(0.05, 0.9, (B, T)))
    # ratios spread from 0.5 to 1.6 so both clip sides are active for either advantage sign
    logp = old + np.log(np.linspace(0.5, 1.6, B * T).reshape(B, T))
    ref = old + rng.normal(0, 0.3, (B, T))
    adv = np.array([1.0, -1.0, 0.5, -0.5, 2.0, -2.0])
    mask = np.ones((B, T))
    mask[0, 3:] = 0
    mask[3, 1:] = 0
    mask[5, 4:] = 0
    return logp, old, ref, adv, mask


@pytest.mark.parametrize("how", ["token", "sequence", "constant"])
@pytest.mark.parametrize(("beta", "kl_correction"), [(0.0, True), (0.1, True), (0.1, False)])
def test_loss_matches_numpy(how, beta, kl_correction):
    logp, old, ref, adv, mask = fixed_batch()
    eps, eps_high, max_len = 0.2, 0.28, 8
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    lp = t(logp).requires_grad_(True)
    got, stats = grpo_loss(lp, t(old), t(adv), t(mask), eps, eps_high, beta, t(ref), how, max_len, kl_correction)
    want = np_loss(logp, old, adv, mask, eps, eps_high, beta, ref, how, max_len, kl_correction)
    assert got.item() == pytest.approx(want, rel=1e-10)
    assert stats["clip_low"] > 0 and stats["clip_high"] > 0  # both sides exercised
    got.backward()
    # clipped tokens carry no policy gradient (and no KL when beta = 0)
    ratio = np.exp(logp - old)
    dead = ((ratio < 1 - eps) & (adv[:, None] < 0)) | ((ratio > 1 + eps_high) & (adv[:, None] > 0))
    if beta == 0.0:
        assert np.all(lp.grad.numpy()[dead] == 0) and np.any(lp.grad.numpy()[~dead & (mask > 0)] != 0)


def test_microbatch_sums_equal_full_batch():
    logp, old, ref, adv, mask = fixed_batch()
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    for how in ("token", "sequence", "constant"):
        full, _ = grpo_loss(t(logp), t(old), t(adv), t(mask), 0.2, 0.28, 0.05, t(ref), how, 8)
        parts = 0.0
        for s in (slice(0, 4), slice(4, 6)):
            pt, _ = per_token_loss(t(logp[s]), t(old[s]), t(adv[s]), 0.2, 0.28, 0.05, t(ref[s]))
            parts += aggregate(pt, t(mask[s]), how, 8, total_tokens=mask.sum(), total_sequences=6).item()
        assert parts == pytest.approx(full.item(), rel=1e-12)


def test_on_policy_first_iteration_is_policy_gradient():
    # With old == current (first of num_iterations), ratio == 1: the loss is -mean(A) and the
    # gradient is -A / n per token, for every aggregation's normaliser.
    logp, _, _, adv, mask = fixed_batch()
    lp = torch.tensor(logp, requires_grad=True)
    loss, stats = grpo_loss(lp, lp.detach(), torch.tensor(adv), torch.tensor(mask), aggregation="token")
    loss.backward()
    np.testing.assert_allclose(lp.grad.numpy(), -adv[:, None] * mask / mask.sum(), rtol=1e-12)
    assert stats["clip_fraction"] == 0.0 and stats["ratio"] == pytest.approx(1.0)


@pytest.mark.parametrize("kl_correction", [True, False])
def test_kl_gradient_on_policy(kl_correction):
    # On-policy the ratio is 1 but keeps its gradient (d ratio / d logp = 1), so the weighted k3 term
    # has gradient k3 + 1 - exp(ref - logp) per token and the plain one 1 - exp(ref - logp).
    logp, _, ref, _, mask = fixed_batch()
    lp = torch.tensor(logp, requires_grad=True)
    zero_adv = torch.zeros(len(logp), dtype=torch.float64)
    loss, _ = grpo_loss(lp, lp.detach(), zero_adv, torch.tensor(mask), beta=1.0, ref_logp=torch.tensor(ref),
                        aggregation="token", kl_bias_correction=kl_correction)
    loss.backward()
    d = ref - logp
    k3 = np.exp(d) - d - 1
    want = ((k3 if kl_correction else 0.0) + 1 - np.exp(d)) * mask / mask.sum()
    np.testing.assert_allclose(lp.grad.numpy(), want, rtol=1e-12, atol=1e-15)
