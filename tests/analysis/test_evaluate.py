"""Evaluation on word problems: completions, scoring and reasoning NLL, each against a direct computation."""

from __future__ import annotations

import pytest
import torch

from kolang.analysis.evaluate import evaluate, generate_completions, reasoning_nll
from kolang.data.answers import final_value
from kolang.data.chat import format_prompt
from kolang.data.tasks import generate
from kolang.models import load_model

PROBLEMS = generate(8, seed=21)


@pytest.fixture(scope="module")
def organism(micro_organism):
    return load_model(micro_organism, device="cpu")


def test_greedy_completions_equal_generate(organism, one_thread):
    model, tok = organism
    prompts = [p.question["ko"] for p in PROBLEMS[:4]]
    got = generate_completions(model, tok, prompts, max_new_tokens=12, batch_size=3)
    for prompt, text in zip(prompts, got):  # one at a time, no padding
        enc = tok(format_prompt(tok, prompt), return_tensors="pt", add_special_tokens=False)
        out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
        assert text == tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_evaluate_scores_its_own_completions(organism, one_thread):
    model, tok = organism
    r = evaluate(model, tok, PROBLEMS, "en", max_new_tokens=16, return_completions=True)
    correct = [final_value(t) == p.answer for t, p in zip(r["completions"], PROBLEMS)]
    assert r["n"] == 8 and r["accuracy"] == pytest.approx(sum(correct) / 8)
    assert set(r["accuracy_by_level"]) == {p.level for p in PROBLEMS}
    sampled = evaluate(model, tok, PROBLEMS, "ko", temperature=1.0, seed=3, max_new_tokens=16, return_completions=True)
    again = evaluate(model, tok, PROBLEMS, "ko", temperature=1.0, seed=3, max_new_tokens=16, return_completions=True)
    assert sampled["completions"] == again["completions"]  # seeded


def test_reasoning_nll_equals_per_problem_sum(organism, one_thread):
    model, tok = organism
    total, count = 0.0, 0
    for p in PROBLEMS:
        prompt = tok(format_prompt(tok, p.question["ko"]), add_special_tokens=False)["input_ids"]
        target = tok(p.solution("en") + tok.eos_token, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + target])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, len(prompt) - 1:-1].float(), -1)
        total -= float(logp.gather(-1, ids[0, len(prompt):, None]).sum())
        count += len(target)
    got = reasoning_nll(model, tok, PROBLEMS, "ko", "en", batch_size=3)  # padded batches of three
    assert got == pytest.approx(total / count, rel=1e-5)
