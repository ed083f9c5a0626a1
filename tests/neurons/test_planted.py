"""Planted neurons: wire known neurons of a tiny model to fire only on Hangul, and recover them with every method.

The byte tokenizer spells each Hangul syllable as three bytes (a 0xEA-0xED lead byte and two
0x80-0xBF continuation bytes). Their embeddings get a dedicated pair of residual directions
(+c on one, -c on the other, so LayerNorm's mean is untouched and the difference survives both
RMSNorm and LayerNorm); nothing else writes to or reads those directions except the planted
neurons' gate/up (or c_fc) rows. Planted neurons write nothing back, so they cannot make later
neurons Korean-specific. Short texts of one or two words keep the random neurons' per-text means
noisy, so that no random neuron separates the languages perfectly by chance; with long texts many
do, and AP must then tell the planted ones apart by effect size.
"""

from __future__ import annotations

import pytest
import torch

from kolang.arch import resolve
from kolang.neurons.select import select_neurons
from kolang.neurons.stats import collect_stats
from kolang.tiny import byte_tokenizer, tiny_model

KO_WORDS = "학생 선생님 사과 책 학교 친구 오늘 내일 먹었다 읽었다 좋아한다 갔다 바다 하늘 음악 공부 시간 마음 사랑 도시".split()
EN_WORDS = "student teacher apple book school friend today tomorrow ate read likes went sea sky music study time heart love city".split()
PLANTED = {0: [5, 17, 40], 2: [3, 64, 100, 127]}  # none in layer 1
LAYERS, WIDTH, N_TEXTS = 3, 128, 40
DIRS = (0, 1)  # residual dimensions reserved for "this token is Hangul"
C, A = 0.02, 200.0  # embedding magnitude on the reserved pair (the scale of the random embeddings); planted read gain


def sentences(words: list[str], n: int, seed: int, lengths: tuple[int, int] = (1, 3)) -> list[str]:
    """`n` sentences of `words` drawn at random, each of lengths[0] to lengths[1] - 1 words."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        k = int(torch.randint(*lengths, (1,), generator=g))
        out.append(" ".join(words[int(i)] for i in torch.randint(0, len(words), (k,), generator=g)) + ".")
    return out


def hangul_ids(tok) -> list[int]:
    ids = {i for w in KO_WORDS for ch in w for i in tok(ch, add_special_tokens=False)["input_ids"]}
    assert all(tok.convert_ids_to_tokens(i) not in (" ", ".") for i in ids)
    return sorted(ids)


@torch.no_grad()
def planted_model(family: str):
    """A tiny `family` model whose PLANTED neurons fire exactly on Hangul byte tokens."""
    tok = byte_tokenizer()
    model = tiny_model(family, layers=LAYERS, width=WIDTH)
    mm = resolve(model)
    d0, d1 = DIRS
    hangul = hangul_ids(tok)
    if family == "gpt2":
        emb = model.transformer.wte.weight
        model.transformer.wpe.weight[:, [d0, d1]] = 0
    else:
        emb = model.model.embed_tokens.weight
    emb[:, [d0, d1]] = 0
    emb[hangul, d0], emb[hangul, d1] = C, -C
    for layer in range(mm.num_layers):
        blk = mm.block(layer)
        if family == "gpt2":  # Conv1D weights are (in, out)
            blk.attn.c_attn.weight[[d0, d1], :] = 0
            blk.attn.c_proj.weight[:, [d0, d1]] = 0
            blk.attn.c_proj.bias[[d0, d1]] = 0
            blk.mlp.c_proj.weight[:, [d0, d1]] = 0
            blk.mlp.c_proj.bias[[d0, d1]] = 0
            for ln in (blk.ln_1, blk.ln_2):
                ln.weight[[d0, d1]], ln.bias[[d0, d1]] = 1.0, 0.0
            fc = blk.mlp.c_fc
            fc.weight[[d0, d1], :] = 0
            for i in PLANTED.get(layer, []):
                fc.weight[:, i] = 0
                fc.weight[d0, i], fc.weight[d1, i], fc.bias[i] = A, -A, -1.0  # off (pre-act -1) without Hangul
                blk.mlp.c_proj.weight[i, :] = 0
        else:
            attn, mlp = blk.self_attn, blk.mlp
            for proj in (attn.q_proj, attn.k_proj, attn.v_proj, mlp.gate_proj, mlp.up_proj):
                proj.weight[:, [d0, d1]] = 0
            attn.o_proj.weight[[d0, d1], :] = 0
            mlp.down_proj.weight[[d0, d1], :] = 0
            for i in PLANTED.get(layer, []):
                for proj in (mlp.gate_proj, mlp.up_proj):
                    proj.weight[i] = 0
                    proj.weight[i, d0], proj.weight[i, d1] = A, -A  # gate 0 -> silu(0) = 0: inactive without Hangul
                mlp.down_proj.weight[:, i] = 0
    return model, tok


CASES = [
    ("lape", dict(top_rate=7 / (LAYERS * WIDTH)), None),
    ("lape", dict(per_layer=4, layers="2"), {2}),
    ("contrast", dict(top_fraction=7 / (LAYERS * WIDTH)), None),
    ("contrast", dict(top_fraction=7 / (LAYERS * WIDTH), standardize=True), None),
    ("contrast", dict(top_fraction=7 / (LAYERS * WIDTH), quantity="prob"), None),
    ("contrast", dict(per_layer=3, layers="0:1", quantity="prob", standardize=True), {0}),
    ("ap", dict(top_fraction=7 / (LAYERS * WIDTH), direction="top"), None),
]


@pytest.mark.parametrize("family", ["qwen2", "gpt2"])
def test_every_method_recovers_planted_neurons(family, capsys):
    model, tok = planted_model(family)
    ko, en = sentences(KO_WORDS, N_TEXTS, 1), sentences(EN_WORDS, N_TEXTS, 2)
    stats = collect_stats(model, tok, ko + en, ["ko"] * N_TEXTS + ["en"] * N_TEXTS, keep_text_means=True)
    p = stats.prob()
    ko_ix, en_ix = stats.lang_index("ko"), stats.lang_index("en")
    for layer, idx in PLANTED.items():  # the construction works: planted fire on Hangul only
        assert (p[layer, en_ix, idx] == 0).all() and (p[layer, ko_ix, idx] > 0.8).all()
    rows = []
    for method, kw, only in CASES:
        truth = {(l, i) for l, v in PLANTED.items() for i in v if only is None or l in only}
        ns = select_neurons(stats, method, "ko", ("en",), model=model, **kw)
        got = {(l, int(i)) for l, v in ns.neurons.items() for i in v}
        precision, recall = len(got & truth) / len(got), len(got & truth) / len(truth)
        rows.append((method, kw, precision, recall))
        assert recall == 1.0 and precision >= 0.9, (method, kw, sorted(got), sorted(truth))
    with capsys.disabled():
        print(f"\nplanted-neuron recovery on tiny {family} ({sum(map(len, PLANTED.values()))} planted neurons):")
        for method, kw, precision, recall in rows:
            print(f"  {method:8s} {kw}: precision {precision:.3f} recall {recall:.3f}")


@pytest.mark.parametrize("family", ["qwen2", "gpt2"])
def test_ap_recovers_planted_neurons_when_many_separate_by_accident(family):
    # Texts of 8-15 words make per-text means steady enough that dozens of random neurons separate
    # Korean from English perfectly (AP 1.0, tied with the planted ones): the layer/index tie rule
    # took fewer than half of the planted neurons; the effect size must single them out.
    model, tok = planted_model(family)
    ko, en = sentences(KO_WORDS, N_TEXTS, 1, (8, 16)), sentences(EN_WORDS, N_TEXTS, 2, (8, 16))
    stats = collect_stats(model, tok, ko + en, ["ko"] * N_TEXTS + ["en"] * N_TEXTS, keep_text_means=True)
    truth = {(l, i) for l, v in PLANTED.items() for i in v}
    ns = select_neurons(stats, "ap", "ko", ("en",), top_fraction=len(truth) / (LAYERS * WIDTH), direction="top")
    assert {(l, int(i)) for l, v in ns.neurons.items() for i in v} == truth
    cut = ns.params["method_info"]["top"]
    assert cut["ap_at_cut"] == 1.0 and cut["tied_at_cut"] >= 2 * len(truth) and cut["taken_at_cut"] == len(truth)
