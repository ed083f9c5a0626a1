"""Rollout masks and log-probs, filtering, the prompt sampler, and the judge's mechanics."""

from __future__ import annotations

import pytest
import torch

from kolang.rl.checkpoint import PromptSampler
from kolang.rl.filtering import AllFilteredError, fill_batch, keep_groups
from kolang.rl.rollout import completion_mask, encode_prompts, generate, group_logprobs, left_pad, token_logprobs
from kolang.tiny import byte_tokenizer, tiny_model


def test_completion_mask_stops_after_first_eos():
    ids = torch.tensor([[5, 6, 9, 7, 9], [5, 6, 7, 8, 4], [9, 1, 1, 1, 1]])
    mask, trunc = completion_mask(ids, {9})
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert trunc.tolist() == [False, True, False]
    masked, _ = completion_mask(ids, {9}, mask_truncated=True)
    assert masked.tolist() == [[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]]


def test_left_pad():
    ids, mask = left_pad([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_left_padded_logprobs_equal_unpadded():
    torch.manual_seed(0)
    model, tok = tiny_model("qwen2"), byte_tokenizer()
    prompts = encode_prompts(tok, ["짧은 질문", "a much longer question here"], 64)
    ro = generate(model, tok, prompts, 2, 6, 1.0, 1.0, 3, seed=1)
    assert ro.prompt_ids.shape[0] == 4 and ro.prompt_mask[0, 0] == 0  # the short prompt is left-padded
    with torch.no_grad():
        lp = token_logprobs(model, ro, 1.0, "cpu")  # (4, C)
        for r in range(4):
            p = ro.prompt_ids[r][ro.prompt_mask[r] == 1]
            n = int(ro.completion_mask[r].sum())
            c = ro.completion_ids[r, :n]
            logits = model(torch.cat([p, c])[None]).logits[0, len(p) - 1: -1]  # (n, V)
            want = torch.log_softmax(logits, -1).gather(-1, c[:, None])[:, 0]
            torch.testing.assert_close(lp[r, :n], want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", ["qwen2", "llama", "gemma2", "phi3", "gpt2", "gpt_neox", "lora"])
def test_shared_prompt_logprobs_equal_row_by_row_values_and_gradients(family, one_thread):
    """Computing each group's prompt once gives the same log-probs and the same weight gradients."""
    torch.manual_seed(0)
    model, tok = tiny_model("qwen2" if family == "lora" else family), byte_tokenizer()
    if family == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear"))
    prompts = encode_prompts(tok, ["짧은 질문", "a much longer question here", "세 번째"], 64)
    ro = generate(model, tok, prompts, 3, 7, 1.0, 1.0, 9, seed=2)
    weights = torch.rand(ro.completion_ids.shape)
    grads = []
    for fn in (lambda: token_logprobs(model, ro, 0.8, "cpu"), lambda: group_logprobs(model, ro, 3, 0.8, "cpu")):
        model.zero_grad()
        lp = fn()
        (lp * ro.completion_mask * weights).sum().backward()
        grads.append((lp.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]))
    (a, ga), (b, gb) = grads
    m = ro.completion_mask.bool()
    torch.testing.assert_close(a[m], b[m], atol=1e-5, rtol=1e-5)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family", ["qwen2", "gemma2", "gpt2", "neurons"])
def test_shared_prompts_under_gradient_checkpointing_equal_row_by_row(family, one_thread):
    """With checkpointing on, each layer's forward is replayed in the backward pass; the replay-safe cache keeps
    the shared prompt pass exact: the log-probs and gradients of the plain row-by-row computation."""
    torch.manual_seed(0)
    model, tok = tiny_model("qwen2" if family == "neurons" else family), byte_tokenizer()
    if family == "neurons":
        from peft import get_peft_model

        from kolang.tuning.adapter import NeuronConfig

        model = get_peft_model(model, NeuronConfig.from_neurons({0: [1, 5, 9], 1: [2]}, init_weights=False))
    prompts = encode_prompts(tok, ["짧은 질문", "a much longer question here", "세 번째"], 64)
    ro = generate(model, tok, prompts, 3, 7, 1.0, 1.0, 9, seed=2)
    weights = torch.rand(ro.completion_ids.shape)
    base = model.get_base_model() if family == "neurons" else model
    results = []
    for checkpointing in (False, True):
        if checkpointing:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.train()  # checkpointing replays only in training mode; GPT-2's dropout is switched off below
            for mod in model.modules():
                if isinstance(mod, torch.nn.Dropout):
                    mod.p = 0.0
        model.zero_grad()
        lp = (group_logprobs if checkpointing else token_logprobs)(model, ro, *((3,) if checkpointing else ()), 0.8, "cpu")
        (lp * ro.completion_mask * weights).sum().backward()
        results.append((lp.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]))
    assert any(m.gradient_checkpointing for m in model.modules() if hasattr(m, "_can_checkpoint_with_cache"))
    assert not any("_can_checkpoint_with_cache" in m.__dict__ for m in model.modules())  # the flag is put back
    (a, ga), (b, gb) = results
    m = ro.completion_mask.bool()
    torch.testing.assert_close(a[m], b[m], atol=1e-5, rtol=1e-5)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)


def test_generate_is_seeded_and_leaves_global_rng_alone():
    model, tok = tiny_model("qwen2"), byte_tokenizer()
    prompts = encode_prompts(tok, ["질문"], 16)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = generate(model, tok, prompts, 3, 8, 1.0, 0.9, 8, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    b = generate(model, tok, prompts, 3, 8, 1.0, 0.9, 8, seed=7)
    assert a.texts == b.texts and torch.equal(a.completion_ids, b.completion_ids)


def test_keep_groups_and_fill_batch():
    acc = torch.tensor([1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0.0])
    assert keep_groups(acc, 3, 0.0, 1.0).tolist() == [False, True, False, True]
    assert keep_groups(acc, 3, 0.4, 1.0).tolist() == [False, True, False, False]
    calls = []

    def sample(n, r):
        calls.append(n)
        groups = list(range(10 * r, 10 * r + n))
        return groups, torch.tensor([g % 2 == 0 for g in groups])

    filled = fill_batch(sample, 4, rounds=5)
    assert filled.groups == [0, 2, 10, 20] and calls == [4, 2, 1] and filled.kept_fraction == pytest.approx(4 / 7)
    with pytest.raises(AllFilteredError, match="filtered out"):
        fill_batch(lambda n, r: (list(range(n)), torch.zeros(n, dtype=torch.bool)), 2, rounds=3)
    assert fill_batch(lambda n, r: (list(range(n)), torch.zeros(n, dtype=torch.bool)), 2, 3, enabled=False).groups == [0, 1]


def test_sampler_state_round_trip():
    a = PromptSampler(5, seed=3)
    first = a.draw(7)
    assert sorted(first[:5]) == list(range(5))  # one full epoch before repeats
    b = PromptSampler(5, seed=99)
    b.load_state_dict(a.state_dict())
    assert a.draw(9) == b.draw(9)


def test_judge_mechanics():
    from transformers import AutoModelForSequenceClassification

    from kolang.errors import ConfigError
    from kolang.rl.judge import JudgeReward
    from kolang.tiny import tiny_config

    tok = byte_tokenizer()
    lm = tiny_model("qwen2")
    judge = JudgeReward(lm, tok, kind="lm", mode="score")
    comps = ["답은 7입니다.", "The answer is 8.", "잘 모르겠어요"]
    p = judge(prompts=["3 더하기 4는?"] * 3, completions=comps)
    assert len(p) == 3 and all(0 < x < 1 for x in p)
    # gate: the base reward passes only where the judge's probability reaches the threshold
    base = lambda prompts, completions, **kw: [1.0] * len(completions)  # noqa: E731
    gate = JudgeReward(lm, tok, kind="lm", mode="gate", base=base, threshold=sorted(p)[1])
    assert gate(prompts=["3 더하기 4는?"] * 3, completions=comps) == [1.0 if x >= sorted(p)[1] else 0.0 for x in p]
    cal = JudgeReward(lm, tok, kind="lm", mode="calibrate", base=base)
    assert cal(prompts=["3 더하기 4는?"] * 3, completions=comps) == pytest.approx(p)
    torch.manual_seed(0)
    cfg = tiny_config("qwen2")
    cfg.num_labels = 1
    clf = AutoModelForSequenceClassification.from_config(cfg).eval()
    scores = JudgeReward(clf, tok, kind="classifier")(prompts=["q"] * 2, completions=["a", "bb"])
    assert len(scores) == 2 and all(0 < x < 1 for x in scores)
    with pytest.raises(ConfigError):
        JudgeReward(lm, tok, kind="lm", mode="gate")
