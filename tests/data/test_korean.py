"""Batchim and particles, checked against an independent reading of numbers and Unicode decomposition."""

from __future__ import annotations

import unicodedata

import pytest

from kolang.data.korean import attach, count_phrase, final_consonant, has_batchim, native_number, particle

DIGITS = "영일이삼사오육칠팔구"


def spell_sino(n: int) -> str:
    """Full Sino-Korean reading of 0 <= n < 10^8, written independently of the library."""
    if n == 0:
        return "영"

    def below_10k(k: int) -> str:
        s = ""
        for unit, name in ((1000, "천"), (100, "백"), (10, "십"), (1, "")):
            d = k // unit % 10
            if d:
                s += ("" if d == 1 and unit > 1 else DIGITS[d]) + name
        return s

    hi, lo = divmod(n, 10000)
    return (("" if hi == 1 else below_10k(hi)) + "만" if hi else "") + below_10k(lo)


def ends_in_consonant_nfd(syllable: str) -> bool:
    """Decompose a syllable into jamo: a third (final) jamo means it ends in a consonant."""
    return len(unicodedata.normalize("NFD", syllable)) == 3


def test_spelling_helper_is_sane():
    assert spell_sino(3) == "삼" and spell_sino(20) == "이십" and spell_sino(110) == "백십"
    assert spell_sino(10000) == "만" and spell_sino(34567) == "삼만사천오백육십칠"


def test_digit_batchim_matches_spoken_reading():
    for n in [*range(0, 2001), 9999, 10000, 20000, 100000, 1234567, 30000000]:
        last = spell_sino(n)[-1]
        assert has_batchim(n) == ends_in_consonant_nfd(last), n
        assert has_batchim(str(n)) == has_batchim(n) == has_batchim(f"사과 {n}"), n


@pytest.mark.parametrize("n,expected", [(3, "3을"), (2, "2를"), (10, "10을"), (100, "100을"), (4, "4를"),
                                        (5, "5를"), (6, "6을"), (9, "9를"), (15, "15를"), (1000, "1000을")])
def test_object_particle_after_numbers(n, expected):
    assert attach(n, "을/를") == expected


@pytest.mark.parametrize("word,kind,expected", [
    ("사과", "을/를", "를"), ("책", "을/를", "을"), ("민수", "은/는", "는"), ("지훈", "은/는", "은"),
    ("고양이", "이/가", "가"), ("꽃", "이/가", "이"), ("친구", "과/와", "와"), ("선생님", "과/와", "과"),
    ("학교", "으로/로", "로"), ("집", "으로/로", "으로"), ("서울", "으로/로", "로"), ("연필", "으로/로", "로"),
    (7, "으로/로", "로"), (8, "으로/로", "로"), (1, "으로/로", "로"), (3, "으로/로", "으로"), (10, "으로/로", "으로"),
    ("개", "이에요/예요", "예요"), ("명", "이에요/예요", "이에요"),
])
def test_particles(word, kind, expected):
    assert particle(word, kind) == expected


def test_final_consonant_jamo():
    assert final_consonant("서울") == "ㄹ" and final_consonant("사과") == "" and final_consonant("책") == "ㄱ"
    assert final_consonant("hello") is None and not has_batchim("hello")
    with pytest.raises(ValueError):
        particle("책", "의/에")


def test_counters_native_and_digits():
    assert count_phrase(3, "개") == "3개"
    assert count_phrase(1, "개", spelled=True) == "한 개"
    assert count_phrase(2, "명", spelled=True) == "두 명"
    assert count_phrase(20, "마리", spelled=True) == "스무 마리"
    assert count_phrase(24, "권", spelled=True) == "스물네 권"
    assert count_phrase(3000, "원", spelled=True) == "3000원"  # Sino-Korean counters keep digits
    assert [native_number(k) for k in (3, 4, 10, 11, 30, 99)] == ["세", "네", "열", "열한", "서른", "아흔아홉"]
    with pytest.raises(ValueError):
        count_phrase(3, "미터")
