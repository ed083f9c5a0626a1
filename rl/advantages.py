"""Group-relative advantages (GRPO, Shao et al. 2024, arXiv:2402.03300 §4.1.2).

Each prompt is answered G times; a completion's advantage is its reward minus the mean reward of
its group, so no value network is needed. How that difference is scaled is a choice with
consequences: dividing by the group's std up-weights groups that are nearly solved or nearly
failed (a difficulty bias, Dr. GRPO, Liu et al. 2025, arXiv:2503.20783 §3.1), so "none" leaves it
unscaled and "batch" divides by one std for the whole batch (Hu et al., REINFORCE++).
"""

from __future__ import annotations

import torch

from kolang.rl.config import SCALES

EPS = 1e-4  # as TRL: keeps an all-equal group at advantage 0 instead of 0/0


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group") -> torch.Tensor:
    """Advantages for rewards laid out group after group: (P*G,) -> (P*G,).

    `scale` is "group" (divide by each group's std), "batch" (by the std of all rewards) or
    "none". Stds are unbiased (Bessel-corrected), as in TRL's GRPOTrainer.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a multiple of {group_size} values, got shape {tuple(rewards.shape)}")
    r = rewards.float().view(-1, group_size)  # (P, G)
    centred = r - r.mean(dim=1, keepdim=True)  # (P, G)
    if scale == "group":
        std = r.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(r[:, :1])
        centred = centred / (std + EPS)
    elif scale == "batch":
        std = r.std() if r.numel() > 1 else torch.zeros(())
        centred = centred / (std + EPS)
    return centred.reshape(-1)
