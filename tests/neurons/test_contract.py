"""Every adapter's neuron value equals a raw down-projection pre-hook, TransformerLens hook_post and nnsight."""

import copy
import warnings

import pytest
import torch

from kolang.arch import resolve
from kolang.neurons.hooks import capture_mlp
from kolang.tiny import TINY_FAMILIES, tiny_model

TEXT = ["안녕하세요, 반갑습니다. Hello there!", "오늘 날씨 좋네요"]


def _raw(model, mm, ids, attn):
    caps = {}
    handles = [mm.module(layer, "down").register_forward_pre_hook(
        lambda _m, a, layer=layer: caps.__setitem__(layer, a[0].detach().clone())) for layer in range(mm.num_layers)]
    with torch.no_grad():
        model(input_ids=ids, attention_mask=attn)
    for h in handles:
        h.remove()
    return caps


def _kolang(model, mm, ids, attn):
    vals, acts = {}, {}

    def fn(layer, v, a):
        vals[layer] = v.detach().clone()
        acts[layer] = (a if a is not None else v).detach().clone()

    with torch.no_grad(), capture_mlp(mm, fn):
        model(input_ids=ids, attention_mask=attn)
    return vals, acts


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from kolang.models import load_tokenizer
    from kolang.tiny import save_tiny

    return load_tokenizer(save_tiny(tmp_path_factory.mktemp("tok") / "m", "qwen2"))


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_value_matches_raw_prehook_tl_and_nnsight(family, tok):
    warnings.filterwarnings("ignore")
    model = tiny_model(family)
    mm = resolve(model)
    enc = tok(TEXT, return_tensors="pt", padding=True)
    ids, attn = enc["input_ids"], enc["attention_mask"]
    raw = _raw(model, mm, ids, attn)
    vals, acts = _kolang(model, mm, ids, attn)
    for layer in range(mm.num_layers):
        assert torch.equal(vals[layer], raw[layer])

    # The activity flag: act(gate) for gated MLPs, recomputed here from the gate projection's output.
    if mm.spec.gated:
        act_mod = mm.module(0, "act")
        gate_in = {}
        src = mm.module(0, "up" if mm.spec.fused_gate_up else "gate")
        h = src.register_forward_hook(lambda _m, _i, o: gate_in.setdefault(0, o.detach().clone()))
        with torch.no_grad():
            model(input_ids=ids, attention_mask=attn)
        h.remove()
        g = gate_in[0][..., : mm.width]
        ref = act_mod(g)
        assert torch.equal(acts[0] > 0, ref > 0), ((acts[0] - ref).abs().max(), acts[0].shape, ref.shape)

    # TransformerLens: the bridge rewires the model it is given, so it gets a deep copy. It reads each
    # text unpadded; kolang's padded batch must agree on every real token.
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers(family, hf_model=copy.deepcopy(model), tokenizer=copy.deepcopy(tok))
    names = [f"blocks.{layer}.mlp.hook_post" for layer in range(mm.num_layers)]
    for row in range(ids.shape[0]):
        n = int(attn[row].sum())
        _, cache = bridge.run_with_cache(ids[row : row + 1, :n], names_filter=lambda name: name in names)
        for layer in range(mm.num_layers):
            torch.testing.assert_close(cache[names[layer]][0], vals[layer][row, :n], atol=1e-5, rtol=1e-4)

    # nnsight: the input of the down projection at the module path kolang names.
    from nnsight import LanguageModel

    lm = LanguageModel(model, tokenizer=copy.deepcopy(tok))  # nnsight sets left padding on the tokenizer
    saved = {}
    with lm.trace({"input_ids": ids, "attention_mask": attn}):
        for layer in range(mm.num_layers):
            node = lm
            for part in mm.path(layer, "down").split("."):
                node = node[int(part)] if part.isdigit() else getattr(node, part)
            saved[layer] = node.input.save()
    for layer in range(mm.num_layers):
        torch.testing.assert_close(saved[layer], vals[layer], atol=1e-6, rtol=1e-5)


def _full_forward_stats(model, tok, texts, langs, languages):
    """What `collect_stats` computed before it stopped forwards early: the same accumulator, every
    layer hooked, the whole model run (LM head included)."""
    from kolang.batching import encoded_batches
    from kolang.neurons.stats import StatsAccumulator

    mm = resolve(model)
    acc = StatsAccumulator(mm, languages, torch.device("cpu"))
    with torch.inference_mode(), capture_mlp(mm, acc):
        for b in encoded_batches(tok, texts, token_budget=64):
            acc.begin_batch(b.counted, torch.tensor([languages.index(langs[i]) for i in b.index]))
            model(input_ids=b.input_ids, attention_mask=b.attention_mask, use_cache=False)
            acc.end_batch()
    return acc.result()


STATS_TEXTS = TEXT + ["hello there my friend", "the weather is really nice today"]
STATS_LANGS = ["ko", "ko", "en", "en"]
KEYS = ("tokens", "texts", "sum", "sumsq", "active")


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_stats_stop_after_the_last_layer_read_and_equal_a_full_forward(family, byte_tok):
    """Bit for bit on CPU float32: stopping the forward changes nothing before the stop, and neither the
    layers above the last one read nor the LM head ever run."""
    from kolang.neurons.stats import collect_stats

    model = tiny_model(family, layers=3)
    mm = resolve(model)
    full = _full_forward_stats(model, byte_tok, STATS_TEXTS, STATS_LANGS, ["en", "ko"])
    ran: list[str] = []
    handles = [model.get_output_embeddings().register_forward_hook(lambda *_: ran.append("head"))]
    handles += [mm.block(layer).register_forward_hook(lambda *_, layer=layer: ran.append(f"block {layer}"))
                for layer in range(mm.num_layers)]
    st = collect_stats(model, byte_tok, STATS_TEXTS, STATS_LANGS, languages=["en", "ko"], token_budget=64)
    assert "head" not in ran and f"block {mm.num_layers - 1}" not in ran  # stopped inside the last block's MLP
    for key in KEYS:
        assert torch.equal(getattr(st, key), getattr(full, key)), key
    ran.clear()
    first = collect_stats(model, byte_tok, STATS_TEXTS, STATS_LANGS, languages=["en", "ko"], token_budget=64,
                          layers="0:2")
    assert not any(r in ran for r in ("head", "block 1", "block 2")) and first.layers == [0, 1]
    for key in ("sum", "sumsq", "active"):
        assert torch.equal(getattr(first, key)[:2], getattr(full, key)[:2]), key
        assert not getattr(first, key)[2].any(), f"{key}: a layer not read holds values"
    for h in handles:
        h.remove()


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_nnsight_backend_equals_the_hooks(family, byte_tok):
    """The reduction run inside an nnsight trace gives the hooks' statistics (the same `fold`, so bit for bit
    here; the contract is float summation order)."""
    from kolang.neurons.stats import collect_stats

    warnings.filterwarnings("ignore")
    model = tiny_model(family, layers=3)
    kw = dict(languages=["en", "ko"], token_budget=64, keep_text_means=True)
    hooks = collect_stats(model, byte_tok, STATS_TEXTS, STATS_LANGS, **kw)
    traced = collect_stats(model, copy.deepcopy(byte_tok), STATS_TEXTS, STATS_LANGS, backend="nnsight", **kw)
    for key in ("tokens", "texts", "active", "text_langs"):
        assert torch.equal(getattr(traced, key), getattr(hooks, key)), key
    for key in ("sum", "sumsq", "text_means"):
        torch.testing.assert_close(getattr(traced, key), getattr(hooks, key), rtol=1e-12, atol=1e-9)
    assert traced.fingerprint == hooks.fingerprint
