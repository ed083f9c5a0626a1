"""Drift tracking inside training: the `transformers.Trainer` callback, kolang's GRPO `on_step` slot (with
resume), and `kolang drift --run` agreeing with what the loop measured."""

from __future__ import annotations

import json

import pytest

from kolang.analysis.config import DriftConfig
from kolang.analysis.drift import DriftTracker, probe_set_from_tasks
from kolang.neurons.neuronset import NeuronSet, fingerprint_of
from kolang.rl.config import RLConfig
from kolang.rl.drift import DriftCallback, attach, attach_neurons
from kolang.rl.trainer import GRPOTrainer
from kolang.tiny import byte_tokenizer, save_tiny, tiny_model

RECORDS = [{"prompt": f"{a} 더하기 {b}는?", "answer": str(a + b), "lang": "ko"} for a in range(3) for b in range(3)]
SELECT = {"method": "contrast", "per_layer": 4}


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def tracker(model, every: int) -> DriftTracker:
    ns = NeuronSet({0: [1, 2], 1: [5]}, fingerprint_of(model), method="contrast", target="ko", reference=["en"],
                   params={"per_layer": 4})
    return DriftTracker(ns, *probe_set_from_tasks(4, seed=1), byte_tokenizer(), every=every, max_length=64)


def test_callback_in_transformers_trainer(tmp_path):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    tok = byte_tokenizer()
    model = tiny_model("qwen2")
    ids = [tok(t)["input_ids"][:24] for t in ["안녕하세요 반갑습니다", "hello there friend", "오늘 날씨", "the weather"]]
    ds = Dataset.from_dict({"input_ids": [x + [tok.pad_token_id] * (24 - len(x)) for x in ids],
                            "labels": [x + [-100] * (24 - len(x)) for x in ids]})
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=2,
                             learning_rate=1e-2, report_to=[], save_strategy="no", use_cpu=True, logging_strategy="no",
                             disable_tqdm=True)
    cb = DriftCallback(tracker(model, every=2))
    Trainer(model=model, args=args, train_dataset=ds, callbacks=[cb]).train()
    recs = lines(tmp_path / "out" / "drift.jsonl")
    assert [r["step"] for r in recs] == [0, 2, 3]  # start, every 2nd step, and the last
    assert recs[0]["delta_selected"] == 0 and recs[-1]["delta_selected"] > 0 and recs[-1]["delta_other"] > 0


def grpo(tmp_path, base):
    """A 3-step full-weight GRPO run on the tiny model saved in `base` (passed as an object, named in the config)."""
    opts = dict(model=str(base), out=str(tmp_path / "run"), steps=3, prompts_per_step=2, group_size=2, max_completion_length=6, lr=1e-2,
                save_every=1, keep_checkpoints=5, threads=1, filter_groups=False, micro_batch_size=4)

    def reward(prompts, completions, **k):
        return [len(c) % 3 / 2 for c in completions]

    reward.__name__ = "accuracy"
    from kolang.rl.rewards import WeightedReward

    return GRPOTrainer(RLConfig(**opts), model=tiny_model("qwen2"), tokenizer=byte_tokenizer(), records=RECORDS,
                       rewards=WeightedReward([reward], [1.0]))


def test_grpo_slot_resume_and_cli_agree(tmp_path, capsys):
    base = save_tiny(tmp_path / "base", "qwen2")
    seen = []
    tr = grpo(tmp_path, base)
    tr.on_step = lambda step, model: seen.append(step)  # a callback already there keeps running
    hook = attach(tr, tracker(tr.model, every=2))
    tr.train(stop_after=2)
    assert seen == [1, 2]
    path = tmp_path / "run" / "drift.jsonl"
    assert [r["step"] for r in lines(path)] == [0, 2]
    # a kill after step 2's drift line but before a checkpoint: the resumed run repeats step 2
    import shutil

    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step-000002")
    ns_dir = tracker(tr.model, 2).ns.save(tmp_path / "ns")
    tr2 = grpo(tmp_path, base)  # the same tracker, from the saved set and a config this time
    attach_neurons(tr2, ns_dir, DriftConfig(every=2, probe_size=4, probe_seed=1, max_length=64))
    tr2.train(resume=True)
    recs = lines(path)
    assert [r["step"] for r in recs] == [0, 2, 3]  # step 2 once, the last step 3, one start line
    assert recs[-1]["delta_other"] > 0 and hook.tracker.started
    # the same drift computed afterwards from the checkpoints; it reads the set from --neurons
    from kolang.cli import main

    with pytest.raises(SystemExit) as e:
        main(["drift", "--run", str(tmp_path / "run"), "--neurons", str(ns_dir), "--probe-size", "4", "--probe-seed", "1",
              "--max-length", "64"])
        raise SystemExit(0)
    assert e.value.code == 0, capsys.readouterr().err
    post = {r["step"]: r for r in lines(tmp_path / "run" / "drift" / "drift.jsonl")}
    assert sorted(post) == [0, 1, 2, 3]  # the resumed run wrote step-000002 again
    for key in ("iou", "rank_corr", "dp_abs_selected", "delta_selected", "delta_unselected", "delta_other"):
        assert post[3][key] == pytest.approx(recs[-1][key], rel=1e-5, abs=1e-9), key


def test_callback_in_trl_grpo(tmp_path):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")

    ds = datasets.Dataset.from_list([{"prompt": r["prompt"]} for r in RECORDS[:4]])
    args = trl.GRPOConfig(output_dir=str(tmp_path / "trl"), per_device_train_batch_size=2, num_generations=2,
                          max_completion_length=6, max_steps=2, report_to=[], use_cpu=True, logging_strategy="no",
                          save_strategy="no", bf16=False, dataloader_num_workers=0, seed=0, learning_rate=1e-2,
                          disable_tqdm=True)
    model = tiny_model("qwen2")
    trainer = trl.GRPOTrainer(model=model, reward_funcs=[lambda prompts, completions, **k: [sum(map(ord, c)) % 7 / 6 for c in completions]],
                              args=args, train_dataset=ds, processing_class=byte_tokenizer(),
                              callbacks=[DriftCallback(tracker(model, every=1))])
    trainer.train()
    recs = lines(tmp_path / "trl" / "drift.jsonl")
    assert [r["step"] for r in recs] == [0, 1, 2] and recs[0]["delta_other"] == 0
    assert recs[-1]["delta_other"] > 0  # the update reached the weights the tracker reads


def test_cli_reads_adapter_only_checkpoints(tmp_path, capsys):
    """A Trainer/TRL run with a peft_config saves adapters only; `kolang drift --run` applies each to the base."""
    import shutil

    import torch
    from peft import LoraConfig, get_peft_model

    from kolang.cli import main
    from kolang.models import load_model

    base = save_tiny(tmp_path / "base", "qwen2")
    run = tmp_path / "trl"
    for step, scale in ((2, 0.05), (4, 0.10)):  # the later checkpoint has moved twice as far
        torch.manual_seed(0)  # the same A matrices and the same direction of B, so the delta scales with B
        model = get_peft_model(load_model(base)[0], LoraConfig(r=2, target_modules=["gate_proj", "up_proj", "down_proj"]))
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.data = torch.randn_like(p) * scale
        model.save_pretrained(run / f"checkpoint-{step}")
    ns_dir = tracker(tiny_model("qwen2"), 1).ns.save(tmp_path / "ns")
    with pytest.raises(SystemExit) as e:
        main(["drift", "--run", str(run), "--neurons", str(ns_dir), "--probe-size", "4", "--probe-seed", "1",
              "--max-length", "64"])
        raise SystemExit(0)
    assert e.value.code == 0, capsys.readouterr().err
    recs = {r["step"]: r for r in lines(run / "drift" / "drift.jsonl")}
    assert sorted(recs) == [0, 2, 4] and recs[0]["delta_selected"] == 0
    assert 0 < recs[2]["delta_selected"] < recs[4]["delta_selected"]
    assert recs[4]["delta_selected"] == pytest.approx(2 * recs[2]["delta_selected"], rel=1e-4)  # B·A is linear in B
    # without a usable base: one line, exit 2
    (run / "checkpoint-2" / "adapter_config.json").write_text(
        (run / "checkpoint-2" / "adapter_config.json").read_text().replace(str(base), str(tmp_path / "gone")))
    shutil.rmtree(run / "checkpoint-4")
    with pytest.raises(SystemExit) as e:
        main(["drift", "--run", str(run), "--neurons", str(ns_dir), "--out", str(tmp_path / "d2")])
    assert e.value.code == 2 and "--base" in capsys.readouterr().err
