"""The sparse neuron adapter on every weight layout: only the selected rows/columns ever change."""

from __future__ import annotations

import json

import pytest
import torch

from kolang.arch import resolve
from kolang.tiny import tiny_model
from kolang.tuning.merge import merged_model
from kolang.tuning.trainable import prepare

FAMILIES = ("qwen2", "llama", "gemma", "phi3", "gpt2", "gpt_neox")
NEURONS = {0: [3, 17, 40], 1: [0, 63]}


def _masks(model, neurons):
    """name -> bool mask of the entries the neurons own, built independently from the arch slices."""
    mm = resolve(model)
    out = {}
    for layer, idx in neurons.items():
        for name, param, dim, offset in mm.neuron_slices(layer):
            m = out.setdefault(name, torch.zeros(param.shape, dtype=torch.bool))
            for i in idx:
                m.select(dim, i + offset).fill_(True)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_only_selected_weights_change(family):
    base = {k: v.clone() for k, v in tiny_model(family, layers=3).state_dict().items()}
    model = tiny_model(family, layers=3)
    tr = prepare(model, "neurons", [0, 1], NEURONS, train_bias=True)
    opt = torch.optim.AdamW(tr.params, lr=1e-2)
    ids = torch.randint(0, 256, (2, 12))
    for _ in range(3):
        loss = tr.model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    live = tr.model(input_ids=ids).logits
    merged = merged_model(tr.model)
    assert torch.allclose(merged(input_ids=ids).logits, live, atol=1e-5)
    masks = _masks(merged, NEURONS)
    after = merged.state_dict()
    assert set(after) == set(base)
    changed_any = 0
    for name, w in after.items():
        m = masks.get(name)
        if m is None:
            assert torch.equal(w, base[name]), f"{family}: {name} changed but holds no selected neuron"
            continue
        assert torch.equal(w[~m], base[name][~m]), f"{family}: {name} changed outside the selected neurons"
        changed_any += int((w[m] != base[name][m]).sum())
    assert changed_any > 0


@pytest.mark.parametrize("family", ("qwen2", "phi3", "gpt2"))
def test_forward_matches_independent_dense_edit(family):
    """Random deltas through the adapter == the same deltas written into a copy of the weights by hand."""
    from peft import get_peft_model

    from kolang.tuning.adapter import NeuronConfig

    pm = get_peft_model(tiny_model(family), NeuronConfig.from_neurons({1: [2, 5, 9]}, init_weights=False))
    ref = tiny_model(family)
    mm = resolve(ref)
    idx = torch.tensor([2, 5, 9])
    deltas = {n.removeprefix("base_model.model.").rsplit(".sparse_neuron_weight", 1)[0]: p.detach()
              for n, p in pm.named_parameters() if "sparse_neuron_weight" in n}
    with torch.no_grad():
        for name, param, dim, offset in mm.neuron_slices(1):
            if name.endswith(".bias"):
                continue
            d = deltas[name.rsplit(".", 1)[0]]
            k = idx.numel()
            # the adapter stacks slices of a fused parameter (Phi-3 gate then up) along the neuron axis
            part = d.narrow(dim, k, k) if offset else d.narrow(dim, 0, k)
            for j, i in enumerate(idx.tolist()):
                param.select(dim, i + offset).add_(part.select(dim, j))
    ids = torch.randint(0, 256, (2, 9))
    assert torch.allclose(pm(input_ids=ids).logits, ref(input_ids=ids).logits, atol=1e-5)


def test_trainable_size_scales_with_neurons():
    model = tiny_model("qwen2", layers=2, hidden=32, width=64)
    tr = prepare(model, "neurons", [0], {0: list(range(5))})
    # gate row + up row (hidden each) and a down column (hidden) per neuron
    assert sum(p.numel() for p in tr.params) == 5 * 3 * 32
    assert all(p.numel() <= 5 * 32 for p in tr.params)


def test_trl_sft_trainer_trains_only_selected_neurons(tmp_path, one_thread):
    """The adapter as `peft_config` of TRL's SFTTrainer, which wraps the model and then places it (`.to`)."""
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from kolang.tiny import byte_tokenizer
    from kolang.tuning.adapter import NeuronConfig

    base = {k: v.clone() for k, v in tiny_model("qwen2").state_dict().items()}
    ds = datasets.Dataset.from_list([{"text": f"{a} 더하기 1은 {a + 1}입니다."} for a in range(4)])
    args = trl.SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=1, learning_rate=1e-2,
                         max_length=32, report_to=[], use_cpu=True, save_strategy="no", bf16=False,
                         dataloader_num_workers=0, seed=0)
    trainer = trl.SFTTrainer(model=tiny_model("qwen2"), args=args, train_dataset=ds, processing_class=byte_tokenizer(),
                             peft_config=NeuronConfig.from_neurons(NEURONS))
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("sparse_neuron_weight" in n for n in trainable)
    trainer.train()
    merged = trainer.model.merge_and_unload()
    after, masks = merged.state_dict(), _masks(merged, NEURONS)
    assert set(after) == set(base)
    for name, w in after.items():
        m = masks.get(name, torch.zeros(w.shape, dtype=torch.bool))
        assert torch.equal(w[~m], base[name][~m]), f"{name} changed outside the selected neurons"
        assert name not in masks or torch.any(w[m] != base[name][m]), f"{name}: the selected neurons did not train"


def test_trl_grpo_trainer_trains_only_selected_neurons(tmp_path, one_thread):
    """The adapter as `peft_config` of TRL's GRPOTrainer, with kolang's rewards and drift callback: one step,
    and only the selected rows/columns move."""
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from kolang.analysis.drift import DriftTracker, probe_set_from_tasks
    from kolang.neurons.neuronset import NeuronSet, fingerprint_of
    from kolang.rl.drift import DriftCallback
    from kolang.rl.rewards import AccuracyReward, LanguageConsistencyReward
    from kolang.tiny import byte_tokenizer
    from kolang.tuning.adapter import NeuronConfig

    base = {k: v.clone() for k, v in tiny_model("qwen2").state_dict().items()}
    ds = datasets.Dataset.from_list([{"prompt": f"{a} 더하기 1은?", "answer": str(a + 1), "lang": "ko"} for a in range(4)])
    args = trl.GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2,
                          max_completion_length=8, max_steps=1, learning_rate=1e-1, beta=0.0, report_to=[],
                          use_cpu=True, save_strategy="no", bf16=False, dataloader_num_workers=0, seed=0,
                          temperature=1.0, logging_steps=1)
    model = tiny_model("qwen2")
    ns = NeuronSet(NEURONS, fingerprint_of(model), method="contrast", target="ko", reference=["en"],
                   params={"per_layer": 2})
    tracker = DriftTracker(ns, *probe_set_from_tasks(4, seed=1), byte_tokenizer(), every=1, max_length=32)

    def varied(prompts, completions, **kw):  # rewards that differ within a group, so the advantage is never 0
        return [len(c) / 8 for c in completions]

    trainer = trl.GRPOTrainer(model=model, args=args, train_dataset=ds, processing_class=byte_tokenizer(),
                              reward_funcs=[AccuracyReward(), LanguageConsistencyReward("ko"), varied],
                              peft_config=NeuronConfig.from_neurons(NEURONS), callbacks=[DriftCallback(tracker)])
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("sparse_neuron_weight" in n for n in trainable)
    trainer.train()
    assert [json.loads(x)["step"] for x in (tmp_path / "drift.jsonl").read_text().splitlines()] == [0, 1]
    merged = trainer.model.merge_and_unload()
    after, masks = merged.state_dict(), _masks(merged, NEURONS)
    moved = 0
    for name, w in after.items():
        m = masks.get(name, torch.zeros(w.shape, dtype=torch.bool))
        assert torch.equal(w[~m], base[name][~m]), f"{name} changed outside the selected neurons"
        moved += int((w[m] != base[name][m]).sum())
    assert moved > 0, "the selected neurons did not train"
