"""The CUDA paths: statistics on the device (float32 and bf16, hooks and nnsight), a model spread over two
devices, the neuron adapter training in bf16, and validation's chunked head. Skipped without CUDA
(tests/conftest.py); `benchmarks/gpu_check.sh` runs them with the benchmarks on a GPU."""

from __future__ import annotations

import pytest
import torch

from kolang.arch import resolve
from kolang.neurons.stats import collect_stats
from kolang.tiny import tiny_model

pytestmark = pytest.mark.gpu

KO = ["안녕하세요 반갑습니다", "오늘은 날씨가 정말 좋네요", "저는 학교에 갑니다", "커피 한 잔 주세요"]
EN = ["hello there my friend", "the weather is really nice today", "I go to school", "a cup of coffee please"]
TEXTS, LANGS = KO + EN, ["ko"] * 4 + ["en"] * 4


@pytest.mark.parametrize("family", ["qwen2", "gemma2", "phi3", "gpt2"])
def test_statistics_on_the_device_equal_the_cpu(family, byte_tok):
    cpu = collect_stats(tiny_model(family), byte_tok, TEXTS, LANGS)
    gpu = collect_stats(tiny_model(family).cuda(), byte_tok, TEXTS, LANGS)
    assert gpu.sum.device.type == "cuda" and gpu.sum.dtype == torch.float64
    assert torch.equal(gpu.tokens.cpu(), cpu.tokens)
    # CUDA float32 matmuls round differently (and may use TF32, which `fold` then avoids): close, not equal.
    torch.testing.assert_close(gpu.sum.cpu(), cpu.sum, atol=1e-3, rtol=1e-3)
    assert (gpu.active.cpu() - cpu.active).abs().max() <= 1  # a value at exactly 0 may flip sign
    traced = collect_stats(tiny_model(family).cuda(), byte_tok, TEXTS, LANGS, backend="nnsight")
    torch.testing.assert_close(traced.sum.cpu(), gpu.sum.cpu(), atol=1e-6, rtol=1e-6)


def test_bf16_statistics_on_the_device(byte_tok):
    ref = collect_stats(tiny_model("qwen2"), byte_tok, TEXTS, LANGS)
    st = collect_stats(tiny_model("qwen2").to("cuda", torch.bfloat16), byte_tok, TEXTS, LANGS)
    assert st.sum.dtype == torch.float64 and torch.isfinite(st.sum).all()
    assert (st.prob().cpu() - ref.prob()).abs().max() < 0.1


def test_layers_spread_over_two_devices_reduce_where_they_run(byte_tok):
    """`hf_device_map` with layer 0 on the CPU and layer 1 on the GPU (accelerate's hooks move the
    activations): each layer's sums are made on its own device, and the result equals one device's."""
    from accelerate import dispatch_model

    from kolang.neurons.hooks import capture_mlp
    from kolang.neurons.stats import StatsAccumulator

    plain = collect_stats(tiny_model("qwen2"), byte_tok, TEXTS, LANGS)
    device_map = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu",
                  "model.layers.1": 0, "model.norm": 0, "lm_head": 0}
    model = dispatch_model(tiny_model("qwen2"), device_map=device_map)
    st = collect_stats(model, byte_tok, TEXTS, LANGS)
    torch.testing.assert_close(st.sum.cpu(), plain.sum, atol=1e-3, rtol=1e-3)
    acc = StatsAccumulator(resolve(model), ["en", "ko"], torch.device("cpu"))
    enc = byte_tok(TEXTS[:2], return_tensors="pt", padding=True)
    acc.begin_batch(enc["attention_mask"].bool(), torch.tensor([1, 1]))
    with torch.no_grad(), capture_mlp(resolve(model), acc):
        model(**enc)
    assert acc._acc[0].device.type == "cpu" and acc._acc[1].device.type == "cuda"


def test_neuron_adapter_trains_in_bf16_on_the_device():
    from peft import get_peft_model

    from kolang.tuning.adapter import NeuronConfig

    model = tiny_model("qwen2").to("cuda", torch.bfloat16)
    base = {k: v.clone() for k, v in model.state_dict().items()}
    pm = get_peft_model(model, NeuronConfig.from_neurons({0: [3, 17], 1: [5]}))
    opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(0, 256, (2, 12), device="cuda")
    for _ in range(2):
        loss = pm(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.isfinite(loss)
    merged = pm.merge_and_unload().state_dict()
    changed = [k for k, v in merged.items() if not torch.equal(v, base[k])]
    assert changed and all(".mlp." in k for k in changed)


def test_validation_nll_on_the_device(byte_tok):
    from kolang.analysis.validate import nll_by_language

    cpu = nll_by_language(tiny_model("qwen2"), byte_tok, TEXTS, LANGS)
    gpu = nll_by_language(tiny_model("qwen2").cuda(), byte_tok, TEXTS, LANGS)
    for lang in cpu:
        assert gpu[lang]["tokens"] == cpu[lang]["tokens"]
        assert gpu[lang]["nll"] == pytest.approx(cpu[lang]["nll"], rel=1e-3)
