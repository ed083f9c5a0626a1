"""The word-problem generator: well-formed Korean, right answers, disjoint splits, seeded determinism."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest

from kolang.data import tasks
from kolang.data.io import read_records
from kolang.data.tasks import answer_line, extract_answer, generate, has_hard_product, render_step, splits

COUNTER_WORDS = "개|자루|권|마리|장|대|송이"


def consonant_final(syllable: str) -> bool:
    return len(unicodedata.normalize("NFD", syllable)) == 3


def digit_consonant_final(number: str) -> bool:
    # Independent of the library: the reading of the last non-zero position.
    n = int(number)
    if n % 10:
        return "영일이삼사오육칠팔구"[n % 10] in "일삼육칠팔"
    return True  # 십, 백, 천, 만 all end in a consonant


@pytest.fixture(scope="module")
def problems():
    return generate(400, seed=3)


def test_answers_recomputed_from_ops(problems):
    ref = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}
    for p in problems:
        prev = None
        for op, a, b, r in p.ops:
            assert ref[op](a, b) == r and r >= 0
            assert prev is None or a == prev  # each step continues from the last result
            prev = r
        assert p.answer == prev
        for lang in ("ko", "en"):
            assert extract_answer(p.solution(lang)) == p.answer
            assert len(p.steps[lang]) == len(p.ops) + 1
            assert p.steps[lang][-1] == answer_line(lang, p.answer)
            # every operand given in the question appears in it
            given = [p.ops[0][1]] + [b for _, _, b, _ in p.ops]
            found = [int(x) for x in re.findall(r"\d+", p.question[lang])]
            assert sorted(given) == sorted(found), (p.question[lang], p.ops)


def test_levels(problems):
    assert {p.level for p in problems} == {1, 2, 3, 4}
    for p in problems:
        if p.level == 1:
            assert len(p.ops) == 1 and max(p.ops[0][1:3]) <= 18
        if p.level == 2:
            assert len(p.ops) == 1
        if p.level >= 3:
            assert len(p.ops) == 2
        if p.level == 4:
            assert p.ops[0][0] == "mul" and p.ops[1][0] in ("add", "sub")
            (lo_a, hi_a), (lo_b, hi_b) = tasks.HARD_PRODUCT
            _, a, b, _ = p.ops[0]
            assert has_hard_product(p) == (lo_a <= a <= hi_a and lo_b <= b <= hi_b)
            assert has_hard_product(p) or (a <= 9 and b <= 9)  # else a times-table product
        if p.level >= 2:
            bs = [b for _, _, b, _ in p.ops[1 if has_hard_product(p) else 0:]]
            assert max(bs) <= 9 and max(a for _, a, _, _ in p.ops) >= 2
    hard = [has_hard_product(p) for p in problems if p.level == 4]
    assert 0.3 < sum(hard) / len(hard) < 0.7  # level 4: half and half
    assert not any(has_hard_product(p) for p in problems if p.level != 4)


def test_korean_particles_are_right(problems):
    checked = 0
    for p in problems:
        text = p.question["ko"] + " " + p.solution("ko")
        for num, counter, part in re.findall(rf"(\d+)({COUNTER_WORDS})(을|를|이|가|은|는)(?![가-힣])", text):
            cons = consonant_final(counter[-1])
            assert part == {"을": "을" if cons else "를", "를": "을" if cons else "를", "이": "이" if cons else "가",
                            "가": "이" if cons else "가", "은": "은" if cons else "는", "는": "은" if cons else "는"}[part], text
            checked += 1
        for word, part in re.findall(r"([가-힣]+)(은|는|이|가|을|를) ", text):
            if word in {n for n, _ in tasks.NAMES} | {i[0] for i in tasks.ITEMS}:
                cons = consonant_final(word[-1])
                assert (part in "은이을") == cons, (word, part, text)
                checked += 1
        # "a 더하기 b은/는 r입니다": the topic particle after a bare number
        for b, part in re.findall(r"(?:더하기|빼기|곱하기) (\d+)(은|는) ", text):
            assert (part == "은") == digit_consonant_final(b), text
            checked += 1
        for counter, ending in re.findall(rf"몇 ({COUNTER_WORDS})(이에요|예요)", text):
            assert (ending == "이에요") == consonant_final(counter[-1])
    assert checked > 1000


def test_counters_match_items(problems):
    for p in problems:
        (noun, counter), = [(n, c) for n, c, plural in tasks.ITEMS if re.search(rf"\b{plural}\b", p.question["en"])]
        assert re.search(rf"(^|\s){noun}", p.question["ko"]) and f"몇 {counter}" in p.question["ko"], p.question["ko"]


def test_seeded_determinism():
    a, b, c = generate(50, seed=7), generate(50, seed=7), generate(50, seed=8)
    assert a == b
    assert [p.id for p in a] != [p.id for p in c]


def test_splits_disjoint_and_balanced():
    sp = splits(0, n_train=600, n_eval=80, n_probe=40)
    assert (len(sp["train"]), len(sp["eval"]), len(sp["probe"])) == (600, 80, 40)
    content = {k: {json.dumps(p.question, sort_keys=True) for p in v} for k, v in sp.items()}
    assert not content["train"] & content["eval"]
    assert not content["train"] & content["probe"]
    assert not content["eval"] & content["probe"]
    assert sum(len(v) for v in content.values()) == 720  # no duplicates inside a split either
    assert {lv: sum(p.level == lv for p in sp["eval"]) for lv in (1, 2, 3, 4)} == {1: 20, 2: 20, 3: 20, 4: 20}
    # the held-out sets do not depend on how much training data is asked for
    assert [p.id for p in splits(0, 10, 80, 40)["eval"]] == [p.id for p in sp["eval"]]
    # problems after the training set: disjoint from every other set, which stay as they were
    more = splits(0, n_train=600, n_eval=80, n_probe=40, n_unseen=50)
    assert all(more[k] == sp[k] for k in ("train", "eval", "probe")) and len(more["unseen"]) == 50
    assert not {json.dumps(p.question, sort_keys=True) for p in more["unseen"]} & set().union(*content.values())


def test_render_step_keeps_a_wrong_result():
    assert render_step("en", "add", 5, 3, 9) == "5 plus 3 is 9."
    assert render_step("ko", "sub", 12, 3, 8) == "12 빼기 3은 8입니다."
    assert render_step("ko", "mul", 4, 2, 8) == "4 곱하기 2는 8입니다."


@pytest.mark.parametrize("text,expected", [
    ("5 plus 3 is 8. The answer is 8.", 8),
    ("답은 12입니다.", 12),
    ("The answer is 3. 다시 계산하면 답은 4입니다. more text", 4),
    ("답은 7입니다. Actually, The answer is 1,200.", 1200),
    ("The answer is -5.", -5),
    ("no answer here 42", None),
    ("", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_exporters_round_trip(tmp_path):
    ps = generate(12, seed=1)
    disc = tasks.export_jsonl(tmp_path / "d.jsonl", tasks.discovery_records(ps))
    sft = tasks.export_jsonl(tmp_path / "s.jsonl", tasks.sft_records(ps, "ko", "en"))
    rl = tasks.export_jsonl(tmp_path / "r.jsonl", tasks.rl_records(ps, "ko"))
    d = read_records(disc, ["text", "lang"])
    assert len(d) == 24 and {r["lang"] for r in d} == {"ko", "en"}
    s = read_records(sft, ["prompt", "completion"])
    assert s[0] == {"prompt": ps[0].question["ko"], "completion": ps[0].solution("en")}
    r = read_records(rl, ["prompt", "answer", "lang"])
    assert r[0]["answer"] == str(ps[0].answer) and isinstance(r[0]["answer"], str) and r[0]["lang"] == "ko"
