"""Rule rewards on hand-written completions, in string and chat form."""

from __future__ import annotations

import math

import pytest

from kolang.data.answers import extract_answer, split_reasoning
from kolang.errors import ConfigError, RewardError
from kolang.rl.rewards import (
    AccuracyReward,
    FormatReward,
    LanguageConsistencyReward,
    ThinkFormatReward,
    WeightedReward,
    completion_text,
)

KO_REASONING = (
    "민수는 사과를 3개 가지고 있고, 친구에게서 4개를 더 받았습니다.\n"
    "그래서 전체 사과의 수는 $3 + 4 = 7$ 입니다.\n"
    "코드로 확인해 보면 다음과 같습니다:\n```python\ntotal = 3 + 4\nprint(total)\n```\n"
    "계산 결과가 일치하므로 민수가 가진 사과는 모두 일곱 개입니다.\n"
    "답은 7입니다."
)
EN_REASONING = (
    "Minsu has 3 apples and receives 4 more from a friend.\n"
    "So the total number of apples is 3 + 4 = 7.\n"
    "The answer is 7."
)
PURE_MATH = "$$3 + 4 = 7$$\n\\[ 7 \\times 1 = 7 \\]\n```\nx = 3 + 4\n```\n답은 7입니다."
REPEATED = "사과 " * 60 + "\n답은 7입니다."
REPEATED_PHRASE = "사과는 맛있다 정말로 " * 30 + "\n답은 7입니다."
FILLER = (
    "좋아요, 풀어 봅시다.\nMinsu has three apples and receives four more from his friend, "
    "so adding them together gives seven apples in total, which we double check by counting.\n"
    "그러므로\nThe answer is 7."
)

# (name, completion, low bound, high bound) for the Korean language reward
LANGUAGE_CASES = [
    ("korean reasoning with equations and code", KO_REASONING, 0.95, 1.0),
    ("english reasoning", EN_REASONING, 0.0, 0.0),
    ("pure math and code", PURE_MATH, 0.0, 0.0),
    ("empty", "", 0.0, 0.0),
    ("one korean word repeated", REPEATED, 0.0, 0.0),
    ("one korean phrase repeated", REPEATED_PHRASE, 0.0, 0.0),
    ("korean filler around english reasoning", FILLER, 0.0, 0.2),
    ("answer line only", "답은 7입니다.", 0.0, 0.0),
]


@pytest.mark.parametrize("name, text, lo, hi", LANGUAGE_CASES, ids=[c[0] for c in LANGUAGE_CASES])
def test_language_reward_table(name, text, lo, hi):
    r = LanguageConsistencyReward("ko", min_letters=10)
    (score,) = r(prompts=["q"], completions=[text])
    assert lo <= score <= hi, (name, score, r.explain(text))


def test_language_reward_modes_and_chat_form():
    r = LanguageConsistencyReward("ko", min_letters=10, mode="threshold", threshold=0.9)
    chat = [[{"role": "assistant", "content": KO_REASONING}], [{"role": "assistant", "content": FILLER}]]
    assert r(prompts=["q", "q"], completions=chat) == [1.0, 0.0]
    per_record = LanguageConsistencyReward(None, min_letters=10)
    assert per_record(prompts=["q", "q"], completions=[EN_REASONING, KO_REASONING], lang=["en", "ko"])[0] == 1.0
    with pytest.raises(ConfigError):
        LanguageConsistencyReward("ko", mode="sometimes")
    with pytest.raises(RewardError, match="'lang' column"):
        per_record(prompts=["q"], completions=["x"])


def test_answer_lines():
    assert extract_answer("blah\nThe answer is -3.5.") == "-3.5"
    assert extract_answer("풀이\n답은 12입니다.") == "12"
    assert extract_answer("따라서 답은 1/2입니다.") == "1/2"
    assert extract_answer("no answer here") is None
    reasoning, ans = split_reasoning(KO_REASONING)
    assert ans == "7" and "답은" not in reasoning and "민수는" in reasoning


def test_accuracy():
    acc = AccuracyReward()
    comps = [KO_REASONING, EN_REASONING, "풀이\n답은 8입니다.", "so \\boxed{\\frac{1}{2}}", "The answer is 0.5.", "nothing"]
    golds = ["7", 7, "7", "0.5", "1/2", "7"]
    assert acc(prompts=[""] * 6, completions=comps, answer=golds) == [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    with pytest.raises(RewardError, match="'answer' column"):
        acc(prompts=[""], completions=["x"])


def test_accuracy_off_main_thread():
    import threading

    out = []
    t = threading.Thread(target=lambda: out.append(AccuracyReward()(prompts=[""], completions=["The answer is 7."], answer=["7"])))
    t.start()
    t.join()
    assert out == [[1.0]]


def test_format():
    f = FormatReward()
    cases = {
        KO_REASONING: 1.0,
        EN_REASONING: 1.0,
        "답은 7입니다.": 0.0,  # no reasoning
        "풀이\n답은 7입니다.\n더 할 말": 0.0,  # text after the answer line
        "풀이\n답은 7입니다.\n답은 8입니다.": 0.0,  # two answer lines
        "풀이만 있고 답이 없음": 0.0,
    }
    assert f(prompts=[""] * len(cases), completions=list(cases)) == list(cases.values())
    assert FormatReward("ko")(prompts=["", ""], completions=[KO_REASONING, EN_REASONING]) == [1.0, 0.0]
    assert FormatReward("record")(prompts=[""], completions=[EN_REASONING], lang=["en"]) == [1.0]


def test_completion_text_forms():
    assert completion_text("abc") == "abc"
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "b"}]}]) == "b"


def test_weighted_combination_and_validation():
    acc, fmt = AccuracyReward(), FormatReward()
    w = WeightedReward([acc, fmt], [1.0, 0.5])
    out = w(prompts=["", ""], completions=[KO_REASONING, "nothing"], answer=["7", "7"])
    assert out == [1.5, 0.0] and w.last == {"accuracy": [1.0, 0.0], "format": [1.0, 0.0]}

    def nan_reward(prompts, completions, **kw):
        return [math.nan] * len(completions)

    def short_reward(prompts, completions, **kw):
        return [1.0]

    def broken(prompts, completions, **kw):
        raise KeyError("x")

    for fn, msg in ((nan_reward, "'nan_reward' returned nan"), (short_reward, "'short_reward' returned 1 values"),
                    (broken, "'broken' raised KeyError")):
        with pytest.raises(RewardError, match=msg):
            WeightedReward([fn])(prompts=["", ""], completions=["a", "b"])
    with pytest.raises(ConfigError):
        WeightedReward([acc], [1.0, 2.0])


def test_answer_reader_agrees_with_task_generator():
    import random

    from kolang.data import tasks

    rng = random.Random(0)
    for _ in range(20):
        p = tasks.make_problem(rng.choice(tasks.LEVELS), rng)
        for lang in ("ko", "en"):
            sol = p.solution(lang)
            assert extract_answer(sol) == str(tasks.extract_answer(sol))
            assert FormatReward(lang)(prompts=[""], completions=[sol]) == [1.0]
            assert AccuracyReward()(prompts=[""], completions=[sol], answer=[p.answer]) == [1.0]


def test_format_sentence_final_statement():
    f = FormatReward()
    cases = {
        "3 더하기 4는 7입니다. 답은 7입니다.": 1.0,
        "3 plus 4 is 7. The answer is 7.": 1.0,
        "The answer is 7. But let me check again.": 0.0,
        "3 plus 4 is 7. The answer is 7. The answer is 7.": 0.0,
        "답은 7입니다. 다시 확인하면 답은 7입니다.": 0.0,
    }
    assert f(prompts=[""] * len(cases), completions=list(cases)) == list(cases.values())


# --- reasoning models: a thought block, then the answer ------------------------------------------

EN_THOUGHT = "<think>\nMinsu has 3 apples and gets 4 more from a friend, so 3 + 4 = 7 apples.\n</think>\n\n"
KO_THOUGHT = "<think>\n민수는 사과를 3개 가지고 있고 친구에게서 4개를 더 받았으니 모두 7개입니다.\n</think>\n\n"
KO_ANSWER = "민수가 가진 사과는 모두 일곱 개입니다.\n답은 7입니다."


def test_language_reward_scores_the_thought_by_default():
    english_thought = EN_THOUGHT + KO_ANSWER  # answers in Korean, thinks in English: the collapse
    by = {part: LanguageConsistencyReward("ko", min_letters=10, part=part) for part in ("thought", "answer", "both")}
    scores = {part: r(prompts=["q"], completions=[english_thought])[0] for part, r in by.items()}
    assert scores["thought"] == 0.0 and scores["answer"] == 1.0 and 0.2 < scores["both"] < 0.6, scores
    assert by["thought"](prompts=["q"], completions=[KO_THOUGHT + "The answer is 7."]) == [1.0]
    assert by["thought"](prompts=["q"], completions=[KO_REASONING]) == [1.0]  # no block: the reasoning is the thought
    with pytest.raises(ConfigError, match="part"):
        LanguageConsistencyReward("ko", part="summary")


def test_language_reward_reports_its_path():
    fr = LanguageConsistencyReward("fr", min_letters=10)
    text = "<think>Minsu a trois pommes et en reçoit quatre de plus, donc il en a sept.</think>La réponse est 7."
    assert fr.explain(text) == (1.0, "share by fasttext-lid176")
    assert fr(prompts=["q"], completions=[EN_THOUGHT + "The answer is 7."]) == [0.0]  # English is not French
    assert LanguageConsistencyReward("ko", min_letters=10).explain(KO_REASONING)[1] == "share by script"
    assert fr.path() == "fasttext-lid176" and fr.path("ko") == "script"


def test_accuracy_reads_the_answer_after_the_thought():
    acc = AccuracyReward()
    comps = [KO_THOUGHT + "The answer is 7.",
             "<think>maybe the answer is 7</think>The answer is 8.",  # the thought's guesses do not count
             "<think>3 + 4 = 7, so the answer is 7",  # cut off before any answer
             "3 + 4 = 7\n</think>\n\\boxed{7}"]  # the template pre-filled <think>
    assert acc(prompts=[""] * 4, completions=comps, answer=["7"] * 4) == [1.0, 0.0, 0.0, 1.0]
    assert AccuracyReward(opened=True)(prompts=[""], completions=["3 + 4 = 7, the answer is 7"], answer=["7"]) == [0.0]


@pytest.mark.parametrize("text, score", [
    (KO_THOUGHT + KO_ANSWER, 1.0),
    ("3 + 4 = 7\n</think>\nThe answer is 7.", 1.0),  # opening tag pre-filled by the template
    ("<think>\n\n</think>\n\nThe answer is 7.", 0.0),  # empty thought
    ("<think>3 + 4 = 7", 0.0),  # never closed
    (EN_THOUGHT, 0.0),  # no answer after the block
    (EN_THOUGHT + "I am not sure.", 0.0),  # an answer that states nothing
    (EN_THOUGHT + "<think>again</think>The answer is 7.", 0.0),  # two blocks
    (EN_REASONING, 0.0),  # no block at all
])
def test_think_format(text, score):
    assert ThinkFormatReward()(prompts=[""], completions=[text]) == [score]
    assert ThinkFormatReward()(prompts=[""], completions=[[{"role": "assistant", "content": text}]]) == [score]


def test_format_reward_reads_the_answer_part():
    f = FormatReward()
    assert f(prompts=["", ""], completions=[KO_THOUGHT + "답은 7입니다.", "<think>The answer is 6.</think>The answer is 7."]) \
        == [1.0, 1.0]
