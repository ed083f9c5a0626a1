"""kolang's GRPO loss and gradient equal TRL's own, computed by TRL's GRPOTrainer on identical tensors.

TRL's `_generate_and_score_completions` (advantages, truncation masking, token counts, old and
reference log-probs) and `_compute_loss` run unchanged; only generation, the reward values and the
model's log-probs are fixed so both sides see the same numbers. kolang's side is the trainer's:
`group_advantages`, `completion_mask`, and `micro_batch_loss` over two micro-batches.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from kolang.rl.advantages import group_advantages
from kolang.rl.config import RLConfig
from kolang.rl.loss import micro_batch_loss
from kolang.rl.rollout import completion_mask
from kolang.tiny import byte_tokenizer, tiny_model

datasets = pytest.importorskip("datasets")
trl = pytest.importorskip("trl")

G, C, EOS = 4, 6, 256  # group size, max completion length, <|endoftext|>
PROMPTS = [[10, 11, 12], [20, 21]]
COMPLETIONS = [  # eos at several places; rows of length C without eos are truncated
    [30, 31, EOS], [30, 31, 32, 33, 34, 35], [30, EOS], [30, 31, 32, 33, EOS],
    [40, 41, 42, 43, 44, 45], [EOS], [40, 41, 42, EOS], [40, 41, 42, 43, 44, 45],
]
REWARDS = torch.tensor([1.0, 0.0, 0.5, 0.2, 2.0, 2.0, 0.0, 1.0])

# kolang loss_aggregation -> TRL loss_type. TRL's "dapo" divides by the batch's token count, as
# kolang's "token" does; "bnpo" divides by the micro-batch's, equal only without accumulation.
AGGREGATION = {"token": "dapo", "sequence": "grpo", "constant": "dr_grpo"}
KL = [(0.0, True), (0.04, True), (0.04, False)]  # (beta, kl_bias_correction): the correction acts only with a KL term
CASES = list(itertools.product(AGGREGATION, ("group", "batch", "none"), (None, 0.28), KL, (1, 2), (False, True)))


def fixed_logprobs() -> dict[str, torch.Tensor]:
    """Current, old and reference log-probs (N, C): ratios from 0.5 to 1.6, so both clip sides bind."""
    g = torch.Generator().manual_seed(0)
    N = len(COMPLETIONS)
    old = torch.empty(N, C, dtype=torch.float64).uniform_(0.05, 0.9, generator=g).log()
    cur = old + torch.linspace(0.5, 1.6, N * C, dtype=torch.float64).log().view(N, C)
    ref = old + 0.3 * torch.randn(N, C, dtype=torch.float64, generator=g)
    return {"current": cur, "old": old, "ref": ref}


@pytest.fixture(scope="module")
def trl_trainer(tmp_path_factory):
    """A TRL GRPOTrainer on a tiny model whose generation, rewards and log-prob forward are replaced by fixed values."""
    tok = byte_tokenizer()
    ds = datasets.Dataset.from_list([{"prompt": "x"}] * G)
    args = trl.GRPOConfig(output_dir=str(tmp_path_factory.mktemp("trl")), per_device_train_batch_size=len(COMPLETIONS),
                          num_generations=G, max_completion_length=C, report_to=[], use_cpu=True, bf16=False,
                          save_strategy="no", dataloader_num_workers=0)
    tr = trl.GRPOTrainer(model=tiny_model("qwen2"), reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                         args=args, train_dataset=ds, processing_class=tok)
    assert tr.eos_token_ids == [EOS] and args.gradient_accumulation_steps == args.steps_per_generation == 1
    prompt_ids = [p for p in PROMPTS for _ in range(G)]
    tr._generate = lambda prompts: (prompt_ids, COMPLETIONS, None, ["?"] * len(COMPLETIONS), None, {}, None, [])
    tr._calculate_rewards = lambda *a: REWARDS.clone().unsqueeze(1)  # (N, 1) float32, as TRL's own
    tr.ref_model = torch.nn.Identity()  # stands for the reference model; its log-probs come from `logps`
    tr.current_gradient_accumulation_steps = 1  # set by the training loop, which does not run here
    tr.model.train()
    return tr


def trl_loss(tr, cfg: RLConfig, logps: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """TRL's loss and its gradient in the current log-probs, for the options of `cfg`."""
    tr.loss_type = AGGREGATION[cfg.loss_aggregation]
    tr.scale_rewards, tr.mask_truncated_completions = cfg.scale_rewards, cfg.mask_truncated
    tr.epsilon_low, tr.epsilon_high = cfg.epsilon, cfg.epsilon_high or cfg.epsilon
    tr.beta, tr.args.use_bias_correction_kl, tr.num_iterations = cfg.beta, cfg.kl_bias_correction, cfg.num_iterations
    cur = logps["current"].clone().requires_grad_(True)

    def per_token_logps(model, input_ids, attention_mask, logits_to_keep, compute_entropy=False, **kw):
        assert logits_to_keep == C
        if compute_entropy:  # the policy pass inside _compute_loss
            return cur, torch.zeros_like(cur), None
        return (logps["ref"] if model is tr.ref_model else logps["old"]), None, None

    tr._get_per_token_logps_and_entropies = per_token_logps
    inputs = tr._generate_and_score_completions([{"prompt": "x"}] * len(COMPLETIONS))
    assert ("old_per_token_logps" in inputs) == (cfg.num_iterations > 1)
    loss = tr._compute_loss(tr.model, inputs)
    loss.backward()
    return loss.detach(), cur.grad


def kolang_loss(cfg: RLConfig, logps: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """kolang's loss and gradient as `GRPOTrainer._update` computes them, in two micro-batches of one group each."""
    ids = torch.tensor([c + [257] * (C - len(c)) for c in COMPLETIONS])  # (N, C) right-padded with <|pad|>
    mask, _ = completion_mask(ids, {EOS}, cfg.mask_truncated)
    adv = group_advantages(REWARDS, cfg.group_size, cfg.scale_rewards)
    cur = logps["current"].clone().requires_grad_(True)
    total = torch.zeros((), dtype=torch.float64)
    for rows in (slice(0, G), slice(G, 2 * G)):
        lp = cur[rows]
        old = logps["old"][rows] if cfg.num_iterations > 1 else lp.detach()  # on-policy: the old policy is this one
        ref = logps["ref"][rows] if cfg.beta > 0 else None
        loss, _ = micro_batch_loss(cfg, lp, old, adv[rows], mask[rows].float(), ref, float(mask.sum()), len(ids))
        loss.backward()
        total = total + loss.detach()
    return total, cur.grad


@pytest.mark.parametrize(("aggregation", "scale", "eps_high", "kl", "iterations", "mask_truncated"), CASES,
                         ids=lambda v: str(v))
def test_loss_and_gradient_equal_trl(trl_trainer, aggregation, scale, eps_high, kl, iterations, mask_truncated):
    cfg = RLConfig(loss_aggregation=aggregation, scale_rewards=scale, epsilon_high=eps_high, beta=kl[0],
                   kl_bias_correction=kl[1], num_iterations=iterations, mask_truncated=mask_truncated,
                   group_size=G, max_completion_length=C)
    logps = fixed_logprobs()
    want_loss, want_grad = trl_loss(trl_trainer, cfg, logps)
    got_loss, got_grad = kolang_loss(cfg, logps)
    assert want_grad.abs().max() > 0
    assert abs(float(got_loss - want_loss)) <= 1e-6
    assert float((got_grad - want_grad).abs().max()) <= 1e-6
