"""The GRPO loop on a tiny random-init model: steps run, resume reproduces, bad input is refused."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch

from kolang.errors import DataError, KolangError, RewardError, RunDirError
from kolang.rl.config import RLConfig
from kolang.rl.filtering import AllFilteredError
from kolang.rl.rewards import LanguageConsistencyReward, WeightedReward
from kolang.rl.trainer import TIMING_FIELDS, GRPOTrainer
from kolang.tiny import byte_tokenizer, tiny_model

RECORDS = [{"prompt": f"{a} 더하기 {b}는 얼마인가요?", "answer": str(a + b), "lang": "ko"} for a in range(4) for b in range(3)]


def parity(prompts, completions, **kw):
    """A stand-in accuracy a random model scores about half the time: the completion's length is even."""
    return [float(len(c) % 2 == 0) for c in completions]


parity.__name__ = "accuracy"


def letters(prompts, completions, **kw):
    """A dense reward so that advantages are never all zero."""
    return [sum(ch.isalpha() for ch in c) / max(len(c), 1) for c in completions]


def rewards():
    return WeightedReward([parity, letters, LanguageConsistencyReward("ko", min_letters=1)], [1.0, 1.0, 0.5])


def make(tmp_path, name="run", model=None, records=RECORDS, reward=None, **kw):
    opts = dict(out=str(tmp_path / name), steps=4, prompts_per_step=2, group_size=3, max_completion_length=8,
                lr=1e-2, save_every=2, threads=1, filter_groups=False, micro_batch_size=4)
    opts.update(kw)
    return GRPOTrainer(RLConfig(**opts), model=model or tiny_model("qwen2"), tokenizer=byte_tokenizer(),
                       records=records, rewards=reward or rewards())


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_step_runs_and_logs(tmp_path):
    seen = []
    tr = make(tmp_path, steps=2, num_iterations=2, beta=0.1)
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}
    tr.on_step = lambda step, model: seen.append(step)
    summary = tr.train()
    assert seen == [1, 2] and summary["steps"] == 2
    m = lines(tmp_path / "run" / "metrics.jsonl")
    assert [x["step"] for x in m] == [0, 1]
    for key in ("loss", "reward", "reward/accuracy", "reward/letters", "reward/language", "accuracy", "target_share",
                "kept_fraction", "kl", "clip_fraction", "tokens_per_s"):
        assert key in m[0] and m[0][key] is not None and math.isfinite(m[0][key]), key
    assert m[1]["kl"] > 0  # the policy moved away from the frozen reference
    changed = sum(not torch.equal(before[n], p) for n, p in tr.model.named_parameters())
    assert changed > 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["config"]["group_size"] == 3 and cfg["rewards"] == ["accuracy", "letters", "language"]
    assert (tmp_path / "run" / "model" / "config.json").is_file()


def test_resume_reproduces_uninterrupted_run(tmp_path):
    make(tmp_path, "full").train()
    make(tmp_path, "part").train(stop_after=2)
    resumed = make(tmp_path, "part")
    resumed.train(resume=True)

    def strip(ms):
        return [{k: v for k, v in x.items() if k not in TIMING_FIELDS} for x in ms]

    full, part = lines(tmp_path / "full" / "metrics.jsonl"), lines(tmp_path / "part" / "metrics.jsonl")
    assert [x["step"] for x in part] == [0, 1, 2, 3]
    assert strip(full) == strip(part)
    a = dict(make(tmp_path, "x1").model.named_parameters())  # a fresh model, for shape only
    from safetensors.torch import load_file

    wa = load_file(str(tmp_path / "full" / "checkpoints" / "step-000004" / "trainable.safetensors"))
    wb = load_file(str(tmp_path / "part" / "checkpoints" / "step-000004" / "trainable.safetensors"))
    assert wa.keys() == wb.keys() and set(wa) <= set(a)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_refuses_other_config(tmp_path):
    make(tmp_path, "r").train(stop_after=2)
    with pytest.raises(RunDirError, match="already holds a run"):
        make(tmp_path, "r").train()
    with pytest.raises(RunDirError, match="lr"):
        make(tmp_path, "r", lr=1e-3).train(resume=True)
    make(tmp_path, "r", lr=1e-3, force=True).train(resume=True, stop_after=3)
    assert [x["step"] for x in lines(tmp_path / "r" / "metrics.jsonl")] == [0, 1, 2]


def test_a_run_started_before_an_option_existed_resumes(tmp_path):
    make(tmp_path, "old").train(stop_after=2)
    path = tmp_path / "old" / "config.json"
    cfg = json.loads(path.read_text())
    for added in ("language_part", "think_format_weight", "thinking", "collapse_share"):  # options newer than the run
        del cfg["config"][added]
    path.write_text(json.dumps(cfg))
    make(tmp_path, "old").train(resume=True, stop_after=3)
    assert [x["step"] for x in lines(tmp_path / "old" / "metrics.jsonl")] == [0, 1, 2]
    path.write_text(json.dumps({**cfg, "config": {k: v for k, v in cfg["config"].items() if k != "language_part"}}))
    with pytest.raises(RunDirError, match="language_part"):  # added, but not left at its default
        make(tmp_path, "old", language_part="answer").train(resume=True)


def test_lora_and_neuron_adapters_train(tmp_path):
    from kolang.neurons.neuronset import NeuronSet, fingerprint_of

    tr = make(tmp_path, "lora", trainable="lora", steps=1, beta=0.05)
    tr.train()
    assert (tmp_path / "lora" / "adapter").is_dir()
    model = tiny_model("qwen2")
    NeuronSet({0: [1, 5, 9], 1: [2]}, fingerprint_of(model)).save(tmp_path / "ns")
    tr = make(tmp_path, "neu", model=model, trainable="neurons", neurons=str(tmp_path / "ns"), steps=1)
    n_train = sum(p.numel() for p in tr.params)
    assert 0 < n_train < sum(p.numel() for p in tr.model.parameters()) / 10
    tr.train()


def test_difficulty_filtering_keeps_mixed_groups(tmp_path):
    tr = make(tmp_path, steps=2, filter_groups=True, filter_rounds=6)
    G, kept, trained = tr.cfg.group_size, [], []
    sample, update = tr._sample, tr._update

    def spy_sample(n, round_, seen):  # the accuracy of every group the filter keeps
        start = len(seen.get("_acc", []))
        groups, keep = sample(n, round_, seen)
        acc = seen["_acc"][start:]
        kept.extend(acc[j * G:(j + 1) * G] for j, k in enumerate(keep.tolist()) if k)
        return groups, keep

    def spy_update(ro, adv):
        trained.append(len(ro))
        return update(ro, adv)

    tr._sample, tr._update = spy_sample, spy_update
    tr.train()
    assert kept and all(0 < sum(a) < G for a in kept), kept  # never an all-solved or all-failed group
    m = lines(tmp_path / "run" / "metrics.jsonl")
    assert [x["groups_kept"] * G for x in m if x["groups_kept"]] == trained  # only kept groups are trained on
    assert all(0 < x["kept_fraction"] <= 1 for x in m)


def test_all_filtered_is_an_error_or_a_skip(tmp_path):
    def never(prompts, completions, **kw):
        return [0.0] * len(completions)

    never.__name__ = "accuracy"
    with pytest.raises(AllFilteredError, match="filtered out"):
        make(tmp_path, "e", reward=WeightedReward([never]), filter_groups=True, filter_rounds=2).train()
    assert issubclass(AllFilteredError, KolangError)
    tr = make(tmp_path, "s", reward=WeightedReward([never]), filter_groups=True, filter_rounds=2, on_all_filtered="skip",
              steps=1)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tr.train()
    assert any("filtered out" in str(x.message) for x in w)
    assert lines(tmp_path / "s" / "metrics.jsonl")[0]["kept_fraction"] == 0.0


def test_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="answer"):
        make(tmp_path, "a", records=[{"prompt": "x"}])
    with pytest.raises(DataError, match="no records"):
        make(tmp_path, "b", records=[])

    def nan(prompts, completions, **kw):
        return [float("nan")] * len(completions)

    with pytest.raises(RewardError, match="'nan'"):
        make(tmp_path, "c", reward=WeightedReward([parity, nan])).train()


def test_collapse_monitor_stops_and_rolls_back(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = make(tmp_path, "stop", collapse_min_share=1.1, collapse_action="stop").train()
    assert s["stopped"] and "fell below" in s["stopped"]
    assert len(lines(tmp_path / "stop" / "metrics.jsonl")) == 1



def test_rollback_restores_the_best_checkpoints_weights(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    tr = make(tmp_path, "rb", steps=4, collapse_max_drop=0.3, collapse_action="rollback", save_every=1, keep_checkpoints=5)
    shares = [0.9, 0.95, 0.5, 0.5]  # the Korean share of steps 1..: the best checkpoint is step 2
    monkeypatch.setattr(tr, "_shares", lambda texts, langs: dict.fromkeys(
        ("target_share", "target_share_thought", "target_share_answer"), shares[tr.step]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = tr.train()
    assert "rolled back to the checkpoint of step 2" in s["stopped"] and tr.step == 3
    ckpt = tmp_path / "rb" / "checkpoints"
    now = dict(tr.model.named_parameters())
    best, last = (load_file(ckpt / f"step-00000{k}" / "trainable.safetensors") for k in (2, 3))
    assert all(torch.equal(now[n], t) for n, t in best.items())  # the weights of step 2, not just the message
    assert any(not torch.equal(now[n], t) for n, t in last.items())


def test_gradient_checkpointing_changes_nothing_but_memory(tmp_path):
    a = make(tmp_path, "plain", steps=2)
    b = make(tmp_path, "ckpt", steps=2, gradient_checkpointing=True)
    a.train()
    b.train()
    pa, pb = dict(a.model.named_parameters()), dict(b.model.named_parameters())
    # Both share each group's prompt pass; the replayed forwards may sum in another order: float noise only.
    assert all(torch.allclose(pa[n], pb[n], atol=2e-5) for n in pa)
    la, lb = lines(tmp_path / "plain" / "metrics.jsonl"), lines(tmp_path / "ckpt" / "metrics.jsonl")
    assert [x["reward"] for x in la] == [x["reward"] for x in lb]


def test_thought_and_answer_shares_are_logged_apart(tmp_path):
    tr = make(tmp_path, steps=1, collapse_share="answer", collapse_min_share=0.5, collapse_action="stop")
    texts = ["<think>First I add the two numbers together.</think>민수는 사과가 다섯 개입니다. 답은 5입니다.",
             "<think>두 수를 더하면 다섯이 됩니다.</think>So Minsu has five apples. The answer is 5."]
    shares = tr._shares(texts, ["ko", "ko"])
    assert shares == {"target_share": 0.5, "target_share_thought": 0.5, "target_share_answer": 0.5}
    assert tr._shares(texts[:1], ["ko"]) == {"target_share": 0.0, "target_share_thought": 0.0, "target_share_answer": 1.0}
    assert tr._collapse_share({"target_share": 0.1, "target_share_answer": 0.9}) == 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr.train()
    m = lines(tmp_path / "run" / "metrics.jsonl")[0]
    assert {"target_share", "target_share_thought", "target_share_answer"} <= set(m)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["language_path"] == "script" and cfg["thought_prefilled"] is False


def test_default_rewards_follow_the_thought_format(tmp_path):
    from kolang.organism.tokenizer import chat_template
    from kolang.rl.trainer import default_rewards

    tok = byte_tokenizer()
    tok.chat_template = chat_template("r1")  # pre-fills <think>: completions start inside the thought
    cfg = RLConfig(out=str(tmp_path / "r1"), steps=1, threads=1, language_part="answer", think_format_weight=0.5)
    tr = GRPOTrainer(cfg, model=tiny_model("qwen2"), tokenizer=tok, records=RECORDS)
    assert tr.opened is True
    assert tr.reward.names == ["accuracy", "language", "format", "think_format"]
    assert tr.reward.weights[-1] == 0.5
    by = dict(zip(tr.reward.names, tr.reward.rewards))
    assert by["language"].part == "answer" and by["accuracy"].opened is True
    assert by["think_format"](prompts=[""], completions=["3 + 4 = 7\n</think>\nThe answer is 7."]) == [1.0]
    assert default_rewards(RLConfig(judge=None)).names == ["accuracy", "language", "format", "think_format"]
