"""Streaming statistics equal a dense reference computed from raw captures, whatever the batching."""

import pytest
import torch
from tokenizers.processors import TemplateProcessing

from kolang.arch import resolve
from kolang.errors import ConfigError, DataError, ModelError
from kolang.neurons.stats import ActivationStats, collect_stats
from kolang.neurons.hooks import capture_mlp
from kolang.tiny import byte_tokenizer, tiny_model

KO = ["안녕하세요 반갑습니다", "오늘은 날씨가 정말 좋네요", "저는 학교에 갑니다", "커피 한 잔 주세요"]
EN = ["hello there my friend", "the weather is really nice today", "I go to school", "a cup of coffee please, thanks"]
TEXTS, LANGS = KO + EN, ["ko"] * 4 + ["en"] * 4


def raw_counts(model, sequences, G):
    """Run each (language index, (T,) ids) sequence alone, capture every value and act(gate) with raw
    hooks, and reduce over all its positions in float64."""
    mm = resolve(model)
    L, W = mm.num_layers, mm.width
    ref = {k: torch.zeros(L, G, W, dtype=torch.float64) for k in ("sum", "sumsq")}
    active = torch.zeros(L, G, W, dtype=torch.int64)
    tokens = torch.zeros(G, dtype=torch.int64)
    for g, ids in sequences:
        vals, acts = {}, {}
        hs = []
        for layer in range(L):
            hs.append(mm.module(layer, "down").register_forward_pre_hook(
                lambda _m, a, layer=layer: vals.__setitem__(layer, a[0][0].double())))
            if mm.spec.gated:
                hs.append(mm.module(layer, "act").register_forward_hook(
                    lambda _m, _i, o, layer=layer: acts.__setitem__(layer, o[0])))
        with torch.no_grad():
            model(ids[None])
        for h in hs:
            h.remove()
        tokens[g] += ids.shape[0]
        for layer in range(L):
            v = vals[layer]  # (T, W)
            ref["sum"][layer, g] += v.sum(0)
            ref["sumsq"][layer, g] += (v * v).sum(0)
            a = acts.get(layer, v)
            active[layer, g] += (a > 0).sum(0)
    return ref, active, tokens


def dense_reference(model, tok, texts, langs, languages):
    """Per text, unpadded, without special tokens."""
    seqs = [(languages.index(lang), tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"][0])
            for text, lang in zip(texts, langs)]
    return raw_counts(model, seqs, len(languages))


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


def bos_tokenizer():
    """The byte tokenizer with a special token put before every text, as Llama's tokenizer puts BOS."""
    tok = byte_tokenizer()
    bos = "<|im_start|>"
    tok._tokenizer.post_processor = TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tok.convert_tokens_to_ids(bos))])
    return tok


@pytest.mark.parametrize("family", ["qwen2", "gpt2"])
def test_packed_windows_equal_a_forward_over_hand_packed_windows(family):
    # activation.py: a language's ids concatenated, reshaped into (n, window) blocks, the remainder
    # dropped, every position of every block counted; texts hold an EOS and the tokenizer adds a BOS.
    tok, model, window = bos_tokenizer(), tiny_model(family), 16
    texts = [t + tok.eos_token for t in TEXTS]
    st = collect_stats(model, tok, texts, LANGS, languages=["ko", "en"], max_length=window, token_budget=3 * window,
                       pack=True)
    seqs = []
    for g, lang in enumerate(["ko", "en"]):
        stream = [i for t, x in zip(texts, LANGS) if x == lang for i in tok(t)["input_ids"]]
        assert stream.count(tok.eos_token_id) == stream.count(tok.convert_tokens_to_ids("<|im_start|>")) == 4
        assert len(stream) % window != 0
        seqs += [(g, row) for row in torch.tensor(stream[: len(stream) // window * window]).view(-1, window)]
    ref, active, tokens = raw_counts(model, seqs, 2)
    assert torch.equal(st.tokens, tokens) and torch.equal(st.active, active)
    torch.testing.assert_close(st.sum, ref["sum"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(st.sumsq, ref["sumsq"], atol=1e-4, rtol=1e-4)
    assert st.texts.tolist() == [int(n) // window for n in tokens]  # windows read per language


def test_packing_counts_special_tokens_and_texts_do_not(byte_tok):
    model = tiny_model("qwen2")
    plain = collect_stats(model, byte_tok, TEXTS, LANGS, max_length=8, pack=True)
    with_eos = collect_stats(model, byte_tok, [t + byte_tok.eos_token for t in TEXTS], LANGS, max_length=8, pack=True)
    assert (with_eos.tokens >= plain.tokens).all() and with_eos.tokens.sum() > plain.tokens.sum()
    with pytest.raises(ConfigError, match="per-text means"):
        collect_stats(model, byte_tok, TEXTS, LANGS, pack=True, keep_text_means=True)
    short = collect_stats(model, byte_tok, TEXTS, LANGS, max_length=120, pack=True)  # en has < 120 bytes
    assert short.tokens[short.languages.index("en")] == 0


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


def test_statistics_of_some_layers_select_from_those_only(tmp_path, byte_tok):
    """`layers="0:2"` reads two of three layers; selection defaults to them, refuses the others, and LAPE's
    quantiles run over the layers read (as if the model had no others)."""
    from kolang.neurons.neuronset import NeuronSet
    from kolang.neurons.select import select_neurons
    from kolang.neurons.select.lape import LapeConfig, lape_parts

    model = tiny_model("qwen2", layers=3)
    part = collect_stats(model, byte_tok, TEXTS, LANGS, languages=["ko", "en"], layers="0:2")
    assert part.layers == [0, 1] and part.read_layers == [0, 1] and not part.active[2].any()
    ns = select_neurons(part, "lape", target="ko", reference=["en"], per_layer=2, model=model)
    assert set(ns.layers()) <= {0, 1} and ns.params["layers"] == [0, 1]
    with pytest.raises(DataError, match="hold layers 0..1 only, not 2"):
        select_neurons(part, "lape", target="ko", layers="1:3")
    full = collect_stats(model, byte_tok, TEXTS, LANGS, languages=["ko", "en"])
    two = ActivationStats(full.languages, full.tokens, full.sum[:2], full.sumsq[:2], full.active[:2])  # a 2-layer model
    assert lape_parts(part, LapeConfig()).filter_value == lape_parts(two, LapeConfig()).filter_value
    ns.save(tmp_path / "set")
    assert NeuronSet.load(tmp_path / "set").stats.layers == [0, 1]


def test_discover_reads_only_the_layers_it_selects_from(byte_tok):
    from kolang.neurons.config import DiscoverConfig
    from kolang.neurons.discover import discover

    model = tiny_model("qwen2", layers=3)
    ran = []
    h = resolve(model).block(2).register_forward_pre_hook(lambda *_: ran.append(2))
    ns = discover(model, byte_tok, TEXTS, LANGS, DiscoverConfig(layers="0:2", per_layer=2))
    h.remove()
    assert not ran and ns.layers() == [0, 1] and ns.stats.layers == [0, 1]


def test_each_layer_is_reduced_on_the_device_its_values_arrive_on(byte_tok):
    """A model spread over devices (`hf_device_map`) hands each layer's values over on that layer's device.
    Layer 1's values arrive here on a second device ("meta": shapes only, and ops refuse to mix it with the
    CPU): its sums and the batch masks they need are made there, and layer 0's stay on the CPU, exact."""
    from kolang.neurons.stats import StatsAccumulator

    model = tiny_model("qwen2")
    mm = resolve(model)
    enc = byte_tok(TEXTS[:2], return_tensors="pt", padding=True)
    captured = {}
    with torch.no_grad(), capture_mlp(mm, lambda layer, v, a: captured.__setitem__(layer, (v.clone(), a.clone()))):
        model(**enc)
    acc = StatsAccumulator(mm, ["ko", "en"], torch.device("cpu"))
    acc.begin_batch(enc["attention_mask"].bool(), torch.tensor([0, 0]))
    acc(0, *captured[0])
    acc(1, *(t.to("meta") for t in captured[1]))
    assert acc._acc[0].device.type == "cpu" and acc._acc[1].device.type == "meta"
    assert {d.type for d in acc._masks} == {"cpu", "meta"}  # the masks moved once, not the values
    v, a = captured[0]
    m = enc["attention_mask"].bool()[..., None]
    torch.testing.assert_close(acc._acc[0][0, 0], (v * m).sum((0, 1)).double(), atol=1e-5, rtol=1e-5)
    assert torch.equal(acc._acc[0][2, 0], ((a > 0) & m).sum((0, 1)).double())


def test_accelerate_dispatched_model(byte_tok):
    """With accelerate's hooks (`dispatch_model`, `hf_device_map` set) the statistics and the early stop are unchanged."""
    from accelerate import dispatch_model

    model = tiny_model("qwen2")
    plain = collect_stats(model, byte_tok, TEXTS, LANGS)
    device_map = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "cpu", "model.norm": "cpu",
                  "model.rotary_emb": "cpu", "lm_head": "cpu"}
    dispatched = dispatch_model(tiny_model("qwen2"), device_map=device_map, force_hooks=True)
    assert getattr(dispatched, "hf_device_map", None)
    st = collect_stats(dispatched, byte_tok, TEXTS, LANGS)
    for key in ("tokens", "sum", "sumsq", "active"):
        assert torch.equal(getattr(st, key), getattr(plain, key)), key


def test_sharded_parameters_run_the_whole_forward(byte_tok):
    """ZeRO-3 (parameters tagged `ds_id`) and FSDP gather weights in hooks around each module's forward; a cut
    forward would leave them gathered, so such models are read with the whole forward, to the same statistics."""
    model = tiny_model("qwen2")
    plain = collect_stats(model, byte_tok, TEXTS, LANGS)
    ran = []
    model.lm_head.register_forward_hook(lambda *_: ran.append("head"))
    model.lm_head.weight.ds_id = 0  # what deepspeed.zero.Init puts on every parameter
    st = collect_stats(model, byte_tok, TEXTS, LANGS)
    assert ran and torch.equal(st.sum, plain.sum)
