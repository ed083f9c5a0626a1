"""The GRPO policy loss: clipped importance ratio, optional k3 KL to a reference, and aggregation.

Read it like PPO's clipped surrogate (Schulman et al. 2017) applied per token with one advantage
per completion (GRPO, arXiv:2402.03300 eq. 3). Choices and their sources:
- `epsilon_high` > `epsilon` lets low-probability tokens grow faster (DAPO "clip-higher",
  Yu et al. 2025, arXiv:2503.14476 §3.1), countering entropy collapse.
- KL to a frozen reference uses the k3 estimator exp(r) - r - 1 with r = log pi_ref - log pi
  (Schulman, "Approximating KL divergence", 2020), always >= 0; off by default as in DAPO and
  Dr. GRPO. The tokens were sampled from the old policy, not the current one, so k3 is weighted by
  the importance ratio to estimate KL(pi || pi_ref) without bias (DeepSeek-V3.2, arXiv:2512.02556,
  and TRL's default `use_bias_correction_kl`); the ratio keeps its gradient, so the weight changes
  the KL gradient even on-policy, where its value is 1.
- Aggregation: "token" averages over every completion token of the batch (DAPO §3.3), "sequence"
  averages each completion then the batch (the original GRPO, which favours short wrong answers),
  "constant" divides the token sum by batch size x max completion length (Dr. GRPO,
  arXiv:2503.20783 §3.1), removing the length bias.
"""

from __future__ import annotations

import torch

from kolang.rl.config import AGGREGATIONS, RLConfig


def per_token_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    ref_logp: torch.Tensor | None = None,
    kl_bias_correction: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-token loss (B, T) and per-token diagnostics (ratio, kl, clipped-low/high flags).

    logp, old_logp, ref_logp: (B, T) log-probs of the sampled tokens under the current policy, the
    policy that sampled them, and the reference; advantages: (B,). `kl_bias_correction` weights the
    k3 term by the importance ratio (module docstring).
    """
    eps_high = epsilon if epsilon_high is None else epsilon_high
    adv = advantages.unsqueeze(1)  # (B, 1)
    ratio = torch.exp(logp - old_logp)  # (B, T)
    clipped = torch.clamp(ratio, 1.0 - epsilon, 1.0 + eps_high)  # (B, T)
    loss = -torch.min(ratio * adv, clipped * adv)  # (B, T)
    kl = torch.zeros_like(loss)
    if beta != 0.0:
        if ref_logp is None:
            raise ValueError("beta != 0 needs the reference log-probs")
        delta = ref_logp - logp  # (B, T)
        kl = torch.exp(delta) - delta - 1.0  # (B, T) k3
        if kl_bias_correction:
            kl = kl * ratio  # tokens came from the old policy: reweight to the current one (TRL logs this too)
        loss = loss + beta * kl
    info = {
        "ratio": ratio.detach(),
        "kl": kl.detach(),
        # a token is clipped when the clamp took the gradient away: ratio out of range on the side
        # the advantage pushes towards (as TRL counts it)
        "clip_low": ((ratio < 1.0 - epsilon) & (adv < 0)).detach(),
        "clip_high": ((ratio > 1.0 + eps_high) & (adv > 0)).detach(),
    }
    return loss, info


def aggregate(
    loss: torch.Tensor,
    mask: torch.Tensor,
    how: str = "token",
    max_completion_length: int | None = None,
    total_tokens: float | None = None,
    total_sequences: int | None = None,
) -> torch.Tensor:
    """Reduce a per-token loss (B, T) under a completion mask (B, T) to a scalar.

    `total_tokens` / `total_sequences` give the whole batch's counts when the batch is processed in
    micro-batches, so that summing micro-batch losses equals the full-batch loss.
    """
    mask = mask.to(loss.dtype)
    if how == "token":
        denom = mask.sum() if total_tokens is None else torch.as_tensor(total_tokens, dtype=loss.dtype)
        return (loss * mask).sum() / denom.clamp(min=1.0)
    if how == "sequence":
        n = loss.shape[0] if total_sequences is None else total_sequences
        per_seq = (loss * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B,)
        return per_seq.sum() / max(n, 1)
    if how == "constant":
        if not max_completion_length:
            raise ValueError("'constant' aggregation needs max_completion_length")
        n = loss.shape[0] if total_sequences is None else total_sequences
        return (loss * mask).sum() / (max(n, 1) * max_completion_length)
    raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {how!r}")


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    ref_logp: torch.Tensor | None = None,
    aggregation: str = "token",
    max_completion_length: int | None = None,
    kl_bias_correction: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The full-batch GRPO loss and its statistics (mean KL, clip fractions, mean ratio) over masked tokens."""
    loss, info = per_token_loss(logp, old_logp, advantages, epsilon, epsilon_high, beta, ref_logp, kl_bias_correction)
    total = aggregate(loss, mask, aggregation, max_completion_length)
    return total, token_stats(info, mask)


def micro_batch_loss(
    cfg: RLConfig,
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None,
    total_tokens: float,
    total_sequences: int,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A micro-batch's share of the batch loss under `cfg`'s clip, KL and aggregation options, and its diagnostics.

    The one place the trainer turns `RLConfig` into loss arguments, so tests that hold it against
    TRL exercise exactly what training computes.
    """
    loss, info = per_token_loss(logp, old_logp, advantages, cfg.epsilon, cfg.epsilon_high, cfg.beta, ref_logp,
                                cfg.kl_bias_correction)
    return aggregate(loss, mask, cfg.loss_aggregation, cfg.max_completion_length, total_tokens, total_sequences), info


def token_stats(info: dict[str, torch.Tensor], mask: torch.Tensor) -> dict[str, float]:
    """Masked means of the diagnostics from `per_token_loss`."""
    m = mask.float()
    n = m.sum().clamp(min=1.0)
    low = (info["clip_low"].float() * m).sum() / n
    high = (info["clip_high"].float() * m).sum() / n
    return {
        "kl": float((info["kl"].float() * m).sum() / n),
        "clip_low": float(low),
        "clip_high": float(high),
        "clip_fraction": float(low + high),
        "ratio": float((info["ratio"].float() * m).sum() / n),
    }
