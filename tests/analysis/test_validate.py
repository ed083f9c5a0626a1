"""Ablating the found Korean set hurts Korean more than English and more than a matched random set."""

import pytest

from kolang.analysis.plots import validation_figure
from kolang.analysis.validate import nll_by_language, validate, verdict_line
from kolang.neurons.neuronset import NeuronSet
from kolang.neurons.stats import collect_stats
from kolang.neurons.select import select_neurons
from kolang.tiny import TINY_FAMILIES, planted_model, tiny_model

KO = ["안녕하세요 반갑습니다", "오늘은 날씨가 정말 좋네요", "저는 학교에 갑니다", "커피 한 잔 주세요", "책을 읽고 있어요"]
EN = ["hello there my friend", "the weather is really nice today", "I go to school", "a cup of coffee please", "I am reading"]


def test_found_set_is_causal_on_a_model_where_that_is_true_by_construction(byte_tok):
    model, planted = planted_model("qwen2", per_layer=4)
    texts, langs = KO + EN, ["ko"] * 5 + ["en"] * 5
    stats = collect_stats(model, byte_tok, texts, langs)
    found = select_neurons(stats, method="contrast", target="ko", reference=("en",), per_layer=4, model=model,
                           quantity="prob")
    assert all(set(planted[layer]) <= set(found.neurons.get(layer, []).tolist()) for layer in planted)
    result = validate(model, byte_tok, found, texts, langs, n_random=3)
    d = result["delta_nll"]
    assert d["set"]["ko"] > 0.3 and abs(d["set"]["en"]) < d["set"]["ko"] / 5
    assert result["verdict"]["target_more_than_references"] and result["verdict"]["target_more_than_random"]
    ratio = result["verdict"]["ratio_to_references"]  # None: English unharmed (its NLL did not rise)
    assert ratio is None if d["set"]["en"] <= 0 else ratio == pytest.approx(d["set"]["ko"] / d["set"]["en"])
    assert result["verdict"]["passed"] and verdict_line(result["verdict"])[1].startswith("PASSED")
    # Demanding more selectivity than the set has fails it, and says so.
    strict = validate(model, byte_tok, found, texts, langs, n_random=1, min_ratio=1e9)["verdict"]
    if strict["ratio_to_references"] is not None:
        assert not strict["passed"] and verdict_line(strict)[1].startswith("FAILED")
    assert all(run["ko"] < d["set"]["ko"] for run in d["random_runs"])
    assert validation_figure(result).data  # the page has bars


def test_nll_is_the_mean_next_token_cross_entropy(byte_tok):
    import torch
    import torch.nn.functional as F

    model, _ = planted_model("llama")
    out = nll_by_language(model, byte_tok, KO[:2], ["ko", "ko"])
    total, n = 0.0, 0
    for t in KO[:2]:
        ids = byte_tok(t, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = model(ids).logits
        total += F.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum").item()
        n += ids.shape[1] - 1
    assert out["ko"]["tokens"] == n
    assert abs(out["ko"]["nll"] - total / n) < 1e-5


def test_nll_after_a_context_scores_the_text_only(byte_tok):
    import torch
    import torch.nn.functional as F

    model, _ = planted_model("llama")
    contexts, texts = ["question: ", "another, longer question: "], KO[:2]
    out = nll_by_language(model, byte_tok, texts, ["ko", "ko"], contexts=contexts)
    total, n = 0.0, 0
    for c, t in zip(contexts, texts):
        ids = byte_tok(c + t, return_tensors="pt")["input_ids"]
        k = len(byte_tok(c)["input_ids"])  # the context's tokens are read, never scored
        with torch.no_grad():
            logits = model(ids).logits
        total += F.cross_entropy(logits[0, k - 1:-1], ids[0, k:], reduction="sum").item()
        n += ids.shape[1] - k
    assert out["ko"]["tokens"] == n
    assert abs(out["ko"]["nll"] - total / n) < 1e-5
    assert out["ko"]["nll"] != nll_by_language(model, byte_tok, [c + t for c, t in zip(contexts, texts)],
                                               ["ko", "ko"])["ko"]["nll"]


def test_random_control_is_matched_layer_by_layer(byte_tok):
    model, planted = planted_model("qwen2")
    ns = NeuronSet(planted, {"num_layers": 2, "mlp_width": 64}, target="ko")
    ctrl = ns.random_matched(seed=1)
    assert ctrl.counts() == ns.counts()
    assert all(not set(ctrl.neurons[layer].tolist()) & set(planted[layer]) for layer in planted)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_chunked_head_nll_equals_the_full_logits(family, byte_tok, monkeypatch):
    """The LM head run on the predicted positions only, a few at a time (Gemma's logit softcap included),
    gives the NLL of the model's own full logits."""
    import torch
    import torch.nn.functional as F

    from kolang.analysis import validate as v

    monkeypatch.setattr(v, "HEAD_CHUNK_BYTES", 4 * 260 * 3)  # three positions a chunk: many chunks, a ragged last
    model = tiny_model(family)
    if family == "gemma2":
        model.config.final_logit_softcapping = 2.0  # small enough to bend these logits
    texts = KO[:2] + EN[:2]
    out = nll_by_language(model, byte_tok, texts, ["ko", "ko", "en", "en"], token_budget=64)
    for lang, group in (("ko", KO[:2]), ("en", EN[:2])):
        total, n = 0.0, 0
        for t in group:
            ids = byte_tok(t, return_tensors="pt")["input_ids"]
            with torch.no_grad():
                logits = model(ids).logits
            total += F.cross_entropy(logits[0, :-1].float(), ids[0, 1:], reduction="sum").item()
            n += ids.shape[1] - 1
        assert out[lang]["tokens"] == n
        assert out[lang]["nll"] == pytest.approx(total / n, rel=1e-5, abs=1e-5), family


def test_verdict_states_a_fall_of_the_target_nll_not_a_negative_ratio():
    verdict = {"target": "ko", "target_more_than_references": False, "target_more_than_random": False,
               "selectivity": -0.3013, "target_delta": -0.2933, "ratio_to_references": -36.68, "min_ratio": 3.0,
               "passed": False}
    passed, line = verdict_line(verdict)
    assert not passed and "it lowers 'ko' NLL (-0.293 nats a token)" in line and "-36.7x" not in line
    rise = {**verdict, "target_delta": 0.465, "ratio_to_references": 6.05, "passed": True,
            "target_more_than_references": True, "target_more_than_random": True, "selectivity": 0.3885}
    assert verdict_line(rise) == (True, "PASSED: ablating the set raises 'ko' NLL most: True; more than every random "
                                        "set: True; 6.0x the worst-hit reference (needs 3x); selectivity +0.3885")
