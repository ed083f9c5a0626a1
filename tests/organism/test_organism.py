"""The micro organism: trains, saves, reloads as a plain HF model, generates; the cache is checked."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import transformers

from kolang.errors import ConfigError
from kolang.models import load_model
from kolang.organism.cache import is_valid, organism_dir, read_card
from kolang.pipeline.organism import build


def test_micro_organism_saved_and_reloads(micro_organism):
    d = micro_organism
    assert is_valid(d, "micro")
    card = read_card(d)
    assert card["size"] == "micro" and card["seed"] == 0 and card["parameters"] > 0
    assert set(card["data_mix"]["sequences"]) >= {"en->en", "ko->en", "ko->ko", "text-ko", "text-en"}
    meas = card["measurements"]
    assert set(meas) == {"en_prompts_greedy", "ko_prompts_greedy", "ko_prompts_t1"}
    for m in meas.values():
        assert 0.0 <= m["accuracy"] <= 1.0 and set(m["accuracy_by_level"]) == {"1", "2", "3", "4"}
        assert 0.0 <= m["korean_share"] <= 1.0
        # level 4 apart by its kind of product (the held-out set holds both)
        assert set(m["accuracy_level4_by_product"]) == {"times table", "hard"}
    assert card["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    kn = card["korean_neurons"]  # the Korean set, ablated against layer-matched random sets
    assert kn["neurons"] > 0 and sum(kn["per_layer"].values()) == kn["neurons"]
    assert set(kn["reasoning_nll"]) == set(kn["delta_ablated"]) == {"ko->ko", "en->en", "ko->en"}
    assert len(kn["delta_random"]) == 3 and all(v > 0 for v in kn["reasoning_nll"].values())
    # the same on drills in each language, the text the organism was trained to write
    assert set(kn["drill_nll"]) == set(kn["delta_ablated_drills"]) == {"drill-ko", "drill-en"}
    assert len(kn["delta_random_drills"]) == 3 and all(v > 0 for v in kn["drill_nll"].values())
    tok_cfg = json.loads((d / "tokenizer_config.json").read_text())
    assert tok_cfg["tokenizer_class"] == "PreTrainedTokenizerFast"

    plain = transformers.AutoModelForCausalLM.from_pretrained(str(d))
    assert plain.config.model_type == "qwen2"
    model, tok = load_model(d, device="cpu")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token is not None
    from kolang.data.chat import format_prompt

    text = format_prompt(tok, "민수는 사과 3개를 가지고 있습니다.")
    assert text.endswith("<|im_start|>assistant\n")
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > enc["input_ids"].shape[1]
    # what was saved is what was trained: the same logits from both loaders
    with torch.no_grad():
        assert torch.allclose(plain(**enc).logits, model(**enc).logits, atol=1e-5)


def test_cached_build_is_reused(micro_organism):
    before = (micro_organism / "model.safetensors").stat().st_mtime_ns
    assert build("micro", cache_dir=micro_organism.parent) == micro_organism
    assert (micro_organism / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.parametrize("damage", ["garble_weights", "drop_card", "garble_card", "stale_recipe"])
def test_corrupt_cache_detected(micro_organism, tmp_path, damage):
    d = organism_dir("micro", tmp_path)
    shutil.copytree(micro_organism, d)
    assert is_valid(d, "micro")
    if damage == "garble_weights":
        (d / "model.safetensors").write_bytes(b"\x00garbage")
    elif damage == "drop_card":
        (d / "card.json").unlink()
    elif damage == "garble_card":
        (d / "card.json").write_text("{not json")
    else:  # made by an older recipe of the same version
        card = read_card(d)
        card["config"]["steps"] += 1
        (d / "card.json").write_text(json.dumps(card))
    assert not is_valid(d, "micro")


@pytest.mark.slow
def test_corrupt_cache_rebuilt_deterministically(micro_organism, tmp_path):
    d = organism_dir("micro", tmp_path)
    shutil.copytree(micro_organism, d)
    (d / "model.safetensors").write_bytes(b"\x00garbage")
    assert build("micro", cache_dir=tmp_path, threads=1) == d
    assert is_valid(d, "micro")
    # same seed and thread count: the same weights as the fixture's build
    from safetensors.torch import load_file

    a, b = load_file(str(d / "model.safetensors")), load_file(str(micro_organism / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not list(tmp_path.glob(".organism*"))  # no temporary directory left behind


def test_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("KOLANG_CACHE", str(tmp_path))
    assert organism_dir("micro").parent == tmp_path
    assert organism_dir("full", tmp_path / "x").name.startswith("organism-")


def test_bad_input():
    with pytest.raises(ConfigError):
        build("huge")
    with pytest.raises(ConfigError):
        build("micro", seed=-1)


def test_cli_prints_card_and_rejects_bad_size(micro_organism, capsys):
    from kolang.cli import main

    main(["organism", "--size", "micro", "--cache", str(micro_organism.parent)])
    err = capsys.readouterr().err
    assert "micro organism" in err and "ko/greedy" in err and "ko/t1" in err and "Korean set" in err
    with pytest.raises(SystemExit) as e:
        main(["organism", "--size", "huge"])
    assert e.value.code == 2
    assert "unknown --size" in capsys.readouterr().err


def test_ko_ko_variant_moves_only_korean_questions_to_korean_reasoning():
    from kolang.organism.config import SIZES, get_config
    from kolang.organism.corpus import build_examples
    from kolang.tiny import byte_tokenizer

    recipe = get_config("full")
    assert get_config("full", None) is recipe and get_config("full", 0.0) is recipe
    v = get_config("full", 0.12)
    assert (v.mix.en_en, v.mix.ko_en, v.mix.ko_ko) == (0.5, 0.38, 0.12) and v.steps == recipe.steps
    for bad in (-0.01, 0.51, float("nan")):
        with pytest.raises(ConfigError, match="a Korean->Korean share must lie in"):
            get_config("full", bad)
    assert organism_dir("full", "/c", 2, 0.03).name == "organism-6-koko3-seed2"
    assert organism_dir("micro", "/c", 0, 0.0).name == "organism-6-micro-koko0"  # micro's recipe has 0.12
    assert organism_dir("full", "/c", 0, 0.0) == organism_dir("full", "/c", 0)
    # the pairings come from one stream: the variant turns ~12% of the problems' Korean->English into Korean->Korean
    tok = byte_tokenizer()
    problems = get_config("micro").problems(0)["train"]
    a = build_examples(problems, SIZES["full"].mix, tok, 0)
    b = build_examples(problems, v.mix, tok, 0)
    changed = [(x.kind, y.kind) for x, y in zip(a, b, strict=True) if x != y]
    assert changed and set(changed) == {("ko->en", "ko->ko")}
    assert 0.05 < len(changed) / len(problems) < 0.2
    assert all(x.prompt == y.prompt for x, y in zip(a, b))  # same questions, same order


def test_card_beside_the_shipped_one_fits_80_columns(capsys):
    import json

    from kolang.cli._common import console
    from kolang.cli.organism import print_card
    from kolang.organism.cache import shipped_dir

    shipped = json.loads((shipped_dir() / "card.json").read_text())
    width = console.width
    console.width = 80
    try:
        print_card(shipped, shipped)
    finally:
        console.width = width
    lines = capsys.readouterr().err.splitlines()
    table = [ln for ln in lines if ln.startswith(("┏", "┃", "│", "└"))]
    assert any("shipped" in ln for ln in table) and all(len(ln) <= 80 for ln in table)
    assert not any("…" in ln for ln in table)  # nothing cut short


def test_remeasuring_a_card_rewrites_its_korean_neurons_only(micro_organism, tmp_path):
    from kolang.organism.cache import digests
    from kolang.pipeline.organism import remeasure_neurons

    d = tmp_path / "org"
    shutil.copytree(micro_organism, d)
    card = read_card(d)
    card["korean_neurons"] = {"stale": True}  # as an older kolang would have left it
    (d / "card.json").write_text(json.dumps(card))
    new = remeasure_neurons(d)
    assert read_card(d) == new and is_valid(d, "micro")
    assert new["korean_neurons"] == read_card(micro_organism)["korean_neurons"]  # the same code measures the same
    assert {k: v for k, v in new.items() if k != "korean_neurons"} == {k: v for k, v in card.items() if k != "korean_neurons"}
    assert digests(d) == digests(micro_organism)
