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
