"""Parallel sentences and prompt formatting."""

from __future__ import annotations

import re

from kolang.data.chat import format_prompt
from kolang.data.sentences import parallel_sentences


def test_parallel_sentences_distinct_seeded_bilingual():
    pairs = parallel_sentences(500, seed=0)
    assert len(pairs) == 500 and len({p["en"] for p in pairs}) == 500
    assert pairs == parallel_sentences(500, seed=0) and pairs != parallel_sentences(500, seed=1)
    for p in pairs:
        assert re.search(r"[가-힣]", p["ko"]) and not re.search(r"[A-Za-z]", p["ko"])
        assert re.search(r"[A-Za-z]", p["en"]) and not re.search(r"[가-힣]", p["en"])
    assert len(parallel_sentences(5000, seed=0)) == 5000  # past the distinct space it still returns n


def test_sentence_particles():
    from unicodedata import normalize

    checked = 0
    for p in parallel_sentences(800, seed=2):
        for word, part in re.findall(r"([가-힣]+)(은|는|을|를) ", p["ko"]):
            if len(word) >= 2 and word[-1] not in "에서":
                cons = len(normalize("NFD", word[-1])) == 3
                assert (part in "은을") == cons, p["ko"]
                checked += 1
    assert checked > 300  # the pattern really matched: a regex that never matches must not pass


def test_format_prompt_with_and_without_template(byte_tok):
    from kolang.organism.tokenizer import CHAT_TEMPLATE

    assert format_prompt(byte_tok, "질문") == "질문\n"  # no chat template: plain text and a newline
    tok = byte_tok.__class__(tokenizer_object=byte_tok.backend_tokenizer, eos_token="<|im_end|>", pad_token="<|pad|>")
    tok.chat_template = CHAT_TEMPLATE
    assert format_prompt(tok, "2+2?") == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    msgs = [{"role": "user", "content": "a"}]
    assert format_prompt(tok, msgs) == format_prompt(tok, "a")
