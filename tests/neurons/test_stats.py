"""Streaming statistics equal a dense reference computed from raw captures, whatever the batching."""

import pytest
import torch

from kolang.arch import resolve
from kolang.errors import DataError, ModelError
from kolang.neurons.stats import ActivationStats, collect_stats
from kolang.tiny import tiny_model

KO = ["안녕하세요 반갑습니다", "오늘은 날씨가 정말 좋네요", "저는 학교에 갑니다", "커피 한 잔 주세요"]
EN = ["hello there my friend", "the weather is really nice today", "I go to school", "a cup of coffee please, thanks"]
TEXTS, LANGS = KO + EN, ["ko"] * 4 + ["en"] * 4


def dense_reference(model, tok, texts, langs, languages):
    """Per text, unpadded: capture every value and act(gate) with raw hooks, then reduce in float64."""
    mm = resolve(model)
    L, G, W = mm.num_layers, len(languages), mm.width
    ref = {k: torch.zeros(L, G, W, dtype=torch.float64) for k in ("sum", "sumsq")}
    active = torch.zeros(L, G, W, dtype=torch.int64)
    tokens = torch.zeros(G, dtype=torch.int64)
    for text, lang in zip(texts, langs):
        g = languages.index(lang)
        ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        vals, acts = {}, {}
        hs = []
        for layer in range(L):
            hs.append(mm.module(layer, "down").register_forward_pre_hook(
                lambda _m, a, layer=layer: vals.__setitem__(layer, a[0][0].double())))
            if mm.spec.gated:
                hs.append(mm.module(layer, "act").register_forward_hook(
                    lambda _m, _i, o, layer=layer: acts.__setitem__(layer, o[0])))
        with torch.no_grad():
            model(ids)
        for h in hs:
            h.remove()
        tokens[g] += ids.shape[1]
        for layer in range(L):
            v = vals[layer]  # (T, W)
            ref["sum"][layer, g] += v.sum(0)
            ref["sumsq"][layer, g] += (v * v).sum(0)
            a = acts.get(layer, v)
            active[layer, g] += (a > 0).sum(0)
    return ref, active, tokens


@pytest.mark.parametrize("family", ["qwen2", "gemma2", "phi3", "gpt2", "gpt_neox"])
def test_streaming_equals_dense_reference(family, byte_tok):
    model = tiny_model(family)
    st = collect_stats(model, byte_tok, TEXTS, LANGS, languages=["ko", "en"], token_budget=64)
    ref, active, tokens = dense_reference(model, byte_tok, TEXTS, LANGS, ["ko", "en"])
    assert torch.equal(st.tokens, tokens)
    assert torch.equal(st.active, active)
    torch.testing.assert_close(st.sum, ref["sum"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(st.sumsq, ref["sumsq"], atol=1e-4, rtol=1e-4)
    assert st.texts.tolist() == [4, 4]
    assert st.sum.dtype == torch.float64 and st.active.dtype == torch.int64


def test_batching_and_padding_do_not_change_the_result(byte_tok):
    model = tiny_model("llama")
    one = collect_stats(model, byte_tok, TEXTS, LANGS, token_budget=64, max_batch=1)
    many = collect_stats(model, byte_tok, TEXTS, LANGS, token_budget=4096)  # padded batches
    assert torch.equal(one.tokens, many.tokens) and torch.equal(one.active, many.active)
    torch.testing.assert_close(one.sum, many.sum, atol=1e-5, rtol=1e-5)


def test_special_tokens_are_not_counted(byte_tok):
    tok = byte_tok
    model = tiny_model("qwen2")
    with_eos = collect_stats(model, tok, [t + tok.eos_token for t in TEXTS], LANGS)
    plain = collect_stats(model, tok, TEXTS, LANGS)
    assert torch.equal(with_eos.tokens, plain.tokens)  # the EOS special token is masked out


def test_text_means_are_per_text_means(byte_tok):
    model = tiny_model("qwen2")
    st = collect_stats(model, byte_tok, TEXTS, LANGS, languages=["ko", "en"], keep_text_means=True, token_budget=64)
    assert st.text_means.shape == (8, 2, 64)
    assert st.text_langs.tolist() == [0] * 4 + [1] * 4
    ref, _, _ = dense_reference(model, byte_tok, TEXTS[:1], LANGS[:1], ["ko", "en"])
    n = len(byte_tok(TEXTS[0], add_special_tokens=False)["input_ids"])
    torch.testing.assert_close(st.text_means[0].double(), ref["sum"][:, 0] / n, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_models_accumulate_in_float64(dtype, byte_tok):
    model = tiny_model("qwen2").to(dtype)
    st = collect_stats(model, byte_tok, TEXTS, LANGS)
    assert st.sum.dtype == torch.float64 and torch.isfinite(st.sum).all()
    ref = collect_stats(tiny_model("qwen2"), byte_tok, TEXTS, LANGS)
    assert (st.prob() - ref.prob()).abs().max() < 0.1


def test_derived_quantities():
    st = ActivationStats(["ko", "en"], torch.tensor([2, 4]), torch.ones(1, 2, 3, dtype=torch.float64) * 4,
                         torch.ones(1, 2, 3, dtype=torch.float64) * 16, torch.tensor([[[1, 2, 2], [0, 4, 1]]]))
    assert st.mean()[0, 0, 0] == 2 and st.mean()[0, 1, 0] == 1
    assert st.var()[0, 0, 0] == 4  # 16/2 - 2^2
    assert st.prob()[0, 1].tolist() == [0.0, 1.0, 0.25]


def test_bad_inputs(byte_tok):
    model = tiny_model("qwen2")
    with pytest.raises(DataError):
        collect_stats(model, byte_tok, [], [])
    with pytest.raises(DataError):
        collect_stats(model, byte_tok, ["a"], ["ko", "en"])

    class Empty:  # a tokenizer that encodes everything to nothing (a wrong tokenizer class)
        pad_token_id = 0

        def __call__(self, texts, **kw):
            return {"input_ids": [[] for _ in texts], "special_tokens_mask": [[] for _ in texts]}

    with pytest.raises(ModelError, match="no tokens"):
        collect_stats(model, Empty(), ["안녕"], ["ko"])
