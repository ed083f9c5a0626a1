import torch

from kolang.arch import resolve
from kolang.neurons.hooks import capture_mlp
from kolang.neurons.intervene import ablate, scale, set_neurons
from kolang.tiny import tiny_model

IDX = {0: [1, 5, 9], 1: [0, 63]}


def _values(model, ids):
    got = {}
    with torch.no_grad(), capture_mlp(resolve(model), lambda layer, v, a: got.__setitem__(layer, v.clone())):
        model(ids)
    return got


def _down_inputs_under(model, ids, ctx):
    """What the down projection receives inside `ctx` (raw pre-hook registered after the intervention's)."""
    mm = resolve(model)
    got = {}
    with ctx:
        hs = [mm.module(layer, "down").register_forward_pre_hook(
            lambda _m, a, layer=layer: got.__setitem__(layer, a[0].clone())) for layer in range(mm.num_layers)]
        with torch.no_grad():
            out = model(ids).logits
        for h in hs:
            h.remove()
    return got, out


def test_ablate_zeroes_only_the_selected_columns_and_restores():
    model = tiny_model("qwen2")
    ids = torch.randint(0, 250, (2, 9))
    before = model(ids).logits.detach()
    got, out = _down_inputs_under(model, ids, ablate(model, IDX))
    for layer, idx in IDX.items():
        assert torch.all(got[layer][..., idx] == 0)
        others = [i for i in range(64) if i not in idx]
        assert torch.all(got[layer][..., others] != 0)
    assert not torch.allclose(out, before)
    assert torch.equal(model(ids).logits.detach(), before)  # hooks gone


def test_scale_and_set_per_layer_values():
    model = tiny_model("gpt2")
    ids = torch.randint(0, 250, (1, 6))
    plain = _values(model, ids)
    got, _ = _down_inputs_under(model, ids, scale(model, {0: [3]}, 2.0))
    torch.testing.assert_close(got[0][..., 3], 2 * plain[0][..., 3])
    got, _ = _down_inputs_under(model, ids, set_neurons(model, {1: [4, 7]}, {1: torch.tensor([0.5, -1.0])}))
    assert torch.all(got[1][..., 4] == 0.5) and torch.all(got[1][..., 7] == -1.0)


def test_restored_even_when_the_body_raises():
    model = tiny_model("llama")
    mm = resolve(model)
    try:
        with ablate(model, IDX):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert all(len(mm.module(layer, "down")._forward_pre_hooks) == 0 for layer in range(mm.num_layers))


def test_works_during_generate(byte_tok):
    from kolang.tiny import planted_model

    model, planted = planted_model("qwen2")
    ids = byte_tok("안녕", return_tensors="pt")["input_ids"]
    kw = dict(max_new_tokens=4, do_sample=False, pad_token_id=257, output_scores=True, return_dict_in_generate=True)
    with torch.no_grad():
        a = model.generate(ids, **kw)
        with ablate(model, planted):
            b = model.generate(ids, **kw)
        c = model.generate(ids, **kw)
    assert not torch.allclose(a.scores[0], b.scores[0])  # the intervention acts inside generate's KV-cached steps
    assert torch.equal(a.scores[0], c.scores[0])
