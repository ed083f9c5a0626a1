"""PEFT integration (not public PEFT API, so kept under test): save -> load -> merge round trips."""

from __future__ import annotations

import torch
import transformers
from peft import PeftModel, PeftType, get_peft_model

from kolang.tiny import byte_tokenizer, tiny_model
from kolang.tuning.adapter import NeuronConfig
from kolang.tuning.merge import save_merged


def test_registered():
    assert PeftType("SPARSE_NEURON") is PeftType.SPARSE_NEURON
    cfg = NeuronConfig.from_neurons({0: [5, 1, 1]})
    assert cfg.peft_type == PeftType.SPARSE_NEURON and cfg.neurons == {"0": [1, 5]}


def test_save_load_merge_round_trip(tmp_path):
    pm = get_peft_model(tiny_model("qwen2"), NeuronConfig.from_neurons({0: [1, 7], 1: [3]}, init_weights=False))
    ids = torch.randint(0, 256, (2, 11))
    want = pm(input_ids=ids).logits
    pm.save_pretrained(tmp_path / "adapter")
    saved = __import__("safetensors.torch", fromlist=["load_file"]).load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert sum(t.numel() for t in saved.values()) == 3 * 3 * 32  # only the deltas are stored
    loaded = PeftModel.from_pretrained(tiny_model("qwen2"), tmp_path / "adapter")
    assert torch.equal(loaded(input_ids=ids).logits, want)
    save_merged(loaded, byte_tokenizer(), tmp_path / "merged")
    plain = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "merged")  # no kolang involved
    assert type(plain).__name__ == "Qwen2ForCausalLM"
    assert torch.allclose(plain(input_ids=ids).logits, want, atol=1e-5)
    assert (tmp_path / "merged" / "tokenizer.json").is_file()


def test_merge_adapter_dir(tiny_dir, tmp_path):
    from kolang.models import load_model
    from kolang.tuning.merge import merge_adapter_dir

    model, tok = load_model(tiny_dir, device="cpu")
    pm = get_peft_model(model, NeuronConfig.from_neurons({1: [0, 9]}, init_weights=False))
    ids = torch.randint(0, 256, (1, 6))
    want = pm(input_ids=ids).logits
    pm.save_pretrained(tmp_path / "adapter")
    out = merge_adapter_dir(tiny_dir, tmp_path / "adapter", tmp_path / "merged")
    plain = transformers.AutoModelForCausalLM.from_pretrained(out)
    assert torch.allclose(plain(input_ids=ids).logits, want, atol=1e-5)


def _logits_equal_merged(pm, ids, atol):
    """The adapter's forward equals the same model with its deltas merged in (and differs from the base)."""
    import copy

    live = pm(input_ids=ids).logits
    merged = copy.deepcopy(pm).merge_and_unload()
    with pm.disable_adapter():
        base = pm(input_ids=ids).logits
    err, effect = (live - merged(input_ids=ids).logits).abs().max(), (live - base).abs().max()
    assert err <= atol and effect > 10 * atol, (err, effect)


def test_moves_and_casts():
    # `.to()`, `.double()` and every trainer that places a model run through nn.Module._apply, which the
    # adapter layer once shadowed with its own merge helper.
    pm = get_peft_model(tiny_model("qwen2"), NeuronConfig.from_neurons({0: [1, 7], 1: [3]}, init_weights=False))
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "sparse_neuron_weight" in n:
                p.mul_(25.0)  # deltas large enough to stand out from bf16 rounding
    ids = torch.randint(0, 256, (2, 9))
    for dtype, move, atol in ((torch.float64, lambda m: m.to(torch.float64), 1e-10),
                              (torch.float64, lambda m: m.double(), 1e-10),
                              (torch.bfloat16, lambda m: m.to(torch.bfloat16), 5e-2),
                              (torch.float32, lambda m: m.to(torch.float32), 1e-5),
                              (torch.float32, lambda m: m.to("cpu"), 1e-5)):
        assert move(pm) is pm
        assert {p.dtype for p in pm.parameters()} == {dtype}
        deltas = [p for n, p in pm.named_parameters() if "sparse_neuron_weight" in n]
        assert deltas and all(p.requires_grad for p in deltas)
        _logits_equal_merged(pm, ids, atol)
    pm.to("meta")
    assert {p.device.type for p in pm.parameters()} == {"meta"}
    assert pm(input_ids=ids.to("meta")).logits.shape == (2, 9, 260)
