"""Logit lens: per-layer decoding equals HF's hidden states through the final norm and unembedding,
tokens are classed by script, and a planted Hangul direction shows up at the layer that writes it."""

from __future__ import annotations

import pytest
import torch

from kolang.analysis.logit_lens import (CLASSES, final_norm, korean_prompts, lens_logits, logit_lens,
                                        token_classes)
from kolang.analysis.plots import logit_lens_figure
from kolang.errors import DataError
from kolang.tiny import byte_tokenizer, hangul_token_ids, planted_model, tiny_model


@pytest.mark.parametrize("family", ["qwen2", "gpt2", "gpt_neox", "gemma"])
def test_lens_equals_hidden_states_through_norm_and_head(family):
    model = tiny_model(family).eval()
    ids = torch.tensor([[3, 70, 80, 90, 100, 110], [5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
        lens = lens_logits(model, ids)  # (L, B*T, V)
        norm, head = final_norm(model), model.get_output_embeddings()
        L = len(out.hidden_states) - 1
        assert lens.shape == (L, ids.numel(), head.weight.shape[0])
        # HF's hidden_states[l + 1] is block l's output, except the last, which HF has already normalised.
        for layer in range(L - 1):
            ref = head(norm(out.hidden_states[layer + 1])).reshape(-1, lens.shape[-1])
            torch.testing.assert_close(lens[layer], ref, atol=1e-5, rtol=1e-5)
        logits = out.logits.reshape(-1, lens.shape[-1])
        if family == "gemma":  # Gemma's logits may be soft-capped; the ranking is what the lens reads
            assert torch.equal(lens[-1].argmax(-1), logits.argmax(-1))
        else:
            torch.testing.assert_close(lens[-1], logits, atol=1e-5, rtol=1e-5)


def test_token_classes_of_the_byte_tokenizer():
    tok = byte_tokenizer()
    classes = token_classes(tok, len(tok) + 3)  # ids past the tokenizer (padded vocab) are "other"
    hangul, latin, other = (CLASSES.index(c) for c in ("hangul", "latin", "other"))
    leads = {tok("가", add_special_tokens=False)["input_ids"][0], tok("힣", add_special_tokens=False)["input_ids"][0]}
    assert all(int(classes[i]) == hangul for i in leads)  # a syllable's UTF-8 lead byte alone
    letters = tok("abcXYZ", add_special_tokens=False)["input_ids"]
    assert all(int(classes[i]) == latin for i in letters)
    for text in ("0123", " .,!", "\n"):
        assert all(int(classes[i]) == other for i in tok(text, add_special_tokens=False)["input_ids"])
    assert int(classes[-1]) == other
    # Exactly the four lead bytes 0xEA-0xED, plus the jamo leads: continuation bytes are ambiguous.
    assert set(int(i) for i in (classes == hangul).nonzero()) <= set(hangul_token_ids(tok)) | {
        tok(chr(0x1100), add_special_tokens=False)["input_ids"][0], tok(chr(0x3131), add_special_tokens=False)["input_ids"][0]}


def test_token_classes_of_the_organism_tokenizer(micro_organism):
    from kolang.analysis.language import script_counts
    from kolang.models import load_tokenizer

    tok = load_tokenizer(micro_organism)
    classes = token_classes(tok, len(tok))
    for i in range(len(tok)):
        c = script_counts(tok.decode([i]))
        if c["hangul"] > c["latin"]:
            assert CLASSES[int(classes[i])] == "hangul", tok.decode([i])
        elif c["latin"] > c["hangul"]:
            assert CLASSES[int(classes[i])] == "latin", tok.decode([i])
    # Byte-level BPE fragments of syllables (decoding to U+FFFD) are recognised from their bytes.
    fragments = [i for i in range(len(tok)) if tok.decode([i]).strip() == "\ufffd"]
    assert fragments and any(CLASSES[int(classes[i])] == "hangul" for i in fragments)


def test_planted_hangul_direction_appears_at_its_layer():
    """Neurons planted in layer 1 write a direction that only Hangul tokens' unembedding rows read: the
    lens at layer 1 (not layer 0) must rank Hangul tokens first on Korean text."""
    model, _ = planted_model("qwen2", layers=(1,), per_layer=8, strength=6.0, boost=0.4)
    with torch.no_grad():
        tok = byte_tokenizer()
        lead = torch.tensor([tok(ch, add_special_tokens=False)["input_ids"][0] for ch in "가나다라마바사아자차카타파하힣"])
        head = model.get_output_embeddings().weight
        head[lead.unique(), model.config.hidden_size - 2] = 40.0  # lead bytes read the planted direction strongly
    text = "오늘 날씨가 맑습니다 그리고 바람이 시원합니다"
    result = logit_lens(model.eval(), tok, [text], k=5, positions="all")
    by_layer = {r["layer"]: r for r in result["layers"]}
    assert by_layer[0]["prob_mass"]["hangul"] < 0.2
    assert by_layer[1]["prob_mass"]["hangul"] > 0.8
    assert by_layer[1]["top_share"]["hangul"] > by_layer[0]["top_share"]["hangul"] + 0.3
    assert result["n_positions"] == len(tok(text)["input_ids"])


def test_logit_lens_on_the_organism(micro_organism):
    from kolang.models import load_model

    model, tok = load_model(micro_organism)
    prompts = korean_prompts(tok, 5)
    assert all("\uac00" <= ch <= "\ud7a3" for ch in "".join(prompts) if "\uac00" <= ch <= "\ud7a3")
    result = logit_lens(model, tok, prompts, k=4, examples=3, batch_size=2)
    assert result["n_positions"] == 5 and len(result["examples"]) == 3
    assert [r["layer"] for r in result["layers"]] == list(range(model.config.num_hidden_layers))
    for r in result["layers"]:
        assert sum(r["top_share"].values()) == pytest.approx(1.0)
        assert sum(r["prob_mass"].values()) == pytest.approx(1.0, abs=1e-4)
    # The last layer's top-1 token of each example is the model's own greedy next token.
    for ex, prompt in zip(result["examples"], prompts):
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            greedy = int(model(input_ids=ids).logits[0, -1].argmax())
        assert ex["layers"][-1]["tokens"][0] == tok.decode([greedy])
        assert len(ex["layers"]) == model.config.num_hidden_layers and len(ex["layers"][0]["tokens"]) == 4
    # Batching and padding do not change the numbers.
    one_by_one = logit_lens(model, tok, prompts, k=4, batch_size=1)
    for a, b in zip(result["layers"], one_by_one["layers"]):
        assert a["top_share"] == pytest.approx(b["top_share"]) and a["prob_mass"] == pytest.approx(b["prob_mass"], abs=1e-5)
    fig = logit_lens_figure(result)
    assert len(fig.data) == 5  # four lines and the grid of top-1 tokens
    with pytest.raises(DataError):
        logit_lens(model, tok, [])
    with pytest.raises(DataError):
        logit_lens(model, tok, prompts, positions="middle")
    with pytest.raises(DataError):
        logit_lens(model, tok, prompts, k=0)
