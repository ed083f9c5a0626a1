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


# --- kolang eval: evaluate_model ---------------------------------------------------------------------

from kolang.analysis import evaluate as ev  # noqa: E402
from kolang.analysis.config import EvalConfig  # noqa: E402
from kolang.analysis.evaluate import Generated, evaluate_model, interval, problem_records  # noqa: E402

KO_T, EN_T = "<think>두 수를 더하면 모두 여덟 개입니다.</think>", "<think>Adding the two gives eight.</think>"
RECORDS = [{"prompt": "p0", "answer": "8", "lang": "ko", "level": "1"},
           {"prompt": "p1", "answer": "5", "lang": "ko", "level": "2"},
           {"prompt": "p2", "answer": "3", "lang": "en", "level": "2"}]
# greedy: one a problem; sampled: two a problem (rows grouped by problem)
GREEDY = [KO_T + "답은 8입니다.", EN_T + "The answer is 4.", "<think>three"]
SAMPLED = [KO_T + "답은 8입니다.", EN_T + "사과는 여덟 개입니다. 답은 8입니다.",
           EN_T + "The answer is 5.", EN_T + "The answer is 6.",
           "<think>one two", "<think>three four"]


def test_evaluate_model_aggregates_per_problem(monkeypatch, byte_tok):
    def fake(model, tokenizer, prompts, *, n=1, temperature=0.0, progress=None, **kw):
        texts = GREEDY if temperature == 0 else SAMPLED
        assert len(texts) == len(prompts) * n
        if progress is not None:
            progress(len(texts), len(texts))
        return [Generated(t, len(t), t.count("</think>") == 0) for t in texts]

    monkeypatch.setattr(ev, "generate", fake)
    seen = []
    r = evaluate_model(None, byte_tok, RECORDS, EvalConfig(samples=2, bootstrap=200), progress=lambda d, t: seen.append((d, t)),
                       keep_completions=True)
    assert seen == [(3, 9), (9, 9)] and len(r["completions"]) == 9
    assert set(r["sets"]) == {"ko", "en", "all"} and r["language_path"] == "script" and r["thought_prefilled"] is False
    ko, al = r["sets"]["ko"], r["sets"]["all"]
    assert ko["n"] == 2 and ko["greedy"]["accuracy"]["value"] == 0.5
    assert ko["sampled"]["accuracy"]["value"] == pytest.approx((1.0 + 0.5) / 2)  # avg@2 of each problem, then the mean
    assert ko["sampled"]["pass@k"]["value"] == 1.0 and ko["sampled"]["k"] == 2
    assert ko["sampled"]["target_share_thought"]["value"] == pytest.approx((0.5 + 0.0) / 2)
    assert ko["sampled"]["target_share_answer"]["value"] == pytest.approx(1.0)  # only problem 0's answers have letters
    assert al["sampled"]["truncation_rate"]["value"] == pytest.approx(1 / 3)
    assert al["sampled"]["thought_closed_rate"]["value"] == pytest.approx(2 / 3)
    assert set(al["by_level"]) == {"1", "2"} and al["by_level"]["2"]["n"] == 2
    assert al["by_level"]["1"]["sampled"]["accuracy"]["value"] == 1.0
    assert al["by_level"]["2"]["sampled"]["accuracy"]["value"] == 0.25  # problems 1 (0.5) and 2 (0.0)
    for rate in (al["greedy"]["accuracy"], al["sampled"]["accuracy"], al["sampled"]["tokens"]):
        assert rate["low"] <= rate["value"] <= rate["high"]
    no_greedy = evaluate_model(None, byte_tok, RECORDS, EvalConfig(samples=2, greedy=False, bootstrap=200))
    assert "greedy" not in no_greedy["sets"]["ko"] and no_greedy["sets"]["ko"]["sampled"] == ko["sampled"]


def test_interval_is_a_seeded_bootstrap_over_problems():
    import numpy as np

    assert interval([1.0, 1.0, 1.0], 500, 0) == {"value": 1.0, "low": 1.0, "high": 1.0}
    assert interval([None, None], 500, 0) == {"value": None, "low": None, "high": None}
    values = [float(i % 3 == 0) for i in range(60)]
    a, b = interval(values, 1000, 7), interval(values, 1000, 7)
    assert a == b and a["low"] < a["value"] < a["high"]
    # The normal approximation of the mean's 95% interval, as an independent check of its width.
    se = np.std(values) / np.sqrt(len(values))
    assert a["high"] - a["low"] == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_evaluate_model_on_the_organism_with_a_thought_format(organism, one_thread):
    from kolang.organism.tokenizer import chat_template

    model, tok = organism
    records = problem_records(PROBLEMS[:4], "ko")
    cfg = EvalConfig(samples=2, max_new_tokens=12, batch_size=3, bootstrap=200)
    plain = evaluate_model(model, tok, records, cfg, keep_completions=True)
    rows = plain.pop("completions")
    greedy = [r for r in rows if r["mode"] == "greedy"]
    # greedy completions are `generate_completions`' and are graded as the accuracy reward grades them
    assert [r["completion"] for r in greedy] == generate_completions(model, tok, [r["prompt"] for r in records],
                                                                     max_new_tokens=12)
    assert plain["sets"]["ko"]["greedy"]["accuracy"]["value"] == sum(r["correct"] for r in greedy) / 4
    assert all(r["form"] == "none" for r in rows) and plain["thought_prefilled"] is False
    saved = tok.chat_template
    try:
        tok.chat_template = chat_template("r1")  # the template opens the thought; the organism never closes it
        r1 = evaluate_model(model, tok, records, cfg, keep_completions=True)
    finally:
        tok.chat_template = saved
    assert r1["thought_prefilled"] is True
    assert all(r["form"] == "unclosed" and not r["correct"] for r in r1["completions"])
    assert r1["sets"]["ko"]["sampled"]["thought_closed_rate"]["value"] == 0.0
