"""Script counting and stripping of non-linguistic text before language identification."""

from __future__ import annotations

import pytest

from kolang.analysis.language import (
    language_ratio,
    script_counts,
    strip_nonlinguistic,
    strip_unrendered,
    target_scripts,
)
from kolang.errors import ConfigError


@pytest.mark.parametrize(
    "text, gone, kept",
    [
        ("앞 ```python\nprint('hello world')\n``` 뒤", ["print", "hello"], ["앞", "뒤"]),
        ("앞 ```\nunterminated code", ["unterminated"], ["앞"]),
        ("값은 `len(items)` 입니다", ["len", "items"], ["값은", "입니다"]),
        ("식 $x^2 + y$ 과 $$\\frac{a}{b}$$ 끝", ["frac", "x", "y", "a"], ["식", "과", "끝"]),
        ("식 \\(a+b\\) 와 \\[c\\cdot d\\] 끝", ["cdot", "a", "c"], ["식", "와", "끝"]),
        ("\\begin{align} area &= width \\end{align} 넓이", ["area", "width", "align"], ["넓이"]),
        ("답 \\boxed{\\text{seven}} 이다", ["seven", "text"], ["답", "이다"]),
        ("## 제목\n- **굵게** _기울임_ | 표 |", ["#", "*", "|", "-"], ["제목", "굵게", "기울임", "표"]),
        ("[링크 글](https://example.com/path) 와 www.site.org", ["example", "site", "https"], ["링크", "글", "와"]),
        ("사과 3개, 12.5% 더하기!", ["3", "12", "%", "!", ","], ["사과", "개", "더하기"]),
        ("so x + 2y = 10 holds, a well-known fact", ["x", "y"], ["so", "holds", "well", "known"]),
    ],
)
def test_strip_removes_nonlinguistic(text, gone, kept):
    out = strip_nonlinguistic(text)
    words = out.split()
    for g in gone:
        assert g not in words and (len(g) == 1 or g not in out), (g, out)
    for k in kept:
        assert k in words, (k, out)


@pytest.mark.parametrize(
    "text, gone, kept",
    [
        ("앞 <!-- 숨긴 글 --> 뒤", ["숨긴", "글"], ["앞", "뒤"]),
        ("앞 <!-- 닫히지 않은 주석", ["닫히지", "주석"], ["앞"]),
        ('앞 <span style="display: none">숨긴 글</span> 뒤', ["숨긴"], ["앞", "뒤"]),
        ('앞 <span style="font-size:0px">숨긴</span> <p style="opacity: 0">글</p> 뒤', ["숨긴", "글"], ["앞", "뒤"]),
        ("앞 <div hidden><div>안쪽</div>숨긴</div> 뒤", ["안쪽", "숨긴"], ["앞", "뒤"]),
        ('앞 <input hidden value="x"> <br hidden/> 뒤', [], ["앞", "뒤"]),  # void elements hide no text
        ('앞 <span style="position:absolute; left:-9999px">숨긴</span> <i style="transform: scale(0)">글</i> 뒤',
         ["숨긴", "글"], ["앞", "뒤"]),
        ("앞 <script>var 숨긴 = 1</script><style>/* 글 */</style> 뒤", ["숨긴", "글", "var"], ["앞", "뒤"]),
        ("[//]: # (숨긴 글)\n[ref]: https://example.com \"제목\"\n앞", ["숨긴", "제목"], ["앞"]),
        ("앞\u3164\u3164 사\u200b과 \u115f\u1160뒤", ["\u3164"], ["앞", "사과", "뒤"]),
        ('보이는 <span style="overflow: hidden; opacity: 0.5">글</span> <details>접힌 글</details>', [],
         ["보이는", "글", "접힌"]),
        ("[주의]: 계산에 유의하세요", [], ["주의", "계산에", "유의하세요"]),  # not a reference definition
    ],
)
def test_strip_removes_what_is_never_rendered(text, gone, kept):
    out = strip_nonlinguistic(text)
    words = out.split()
    for g in gone:
        assert g not in out, (g, out)
    for k in kept:
        assert k in words, (k, out)


def test_strip_unrendered_keeps_plain_text():
    assert strip_unrendered("3 < 5 and 7 > 2, [link](url)") == "3 < 5 and 7 > 2, [link](url)"
    assert strip_nonlinguistic("\u1100\u1161\u11a8") == "각"  # jamo written apart are composed


def test_script_counts_by_script():
    c = script_counts("한국어 English 中文 かなカナ Русский é ß ∑ 123 ?")
    assert c == {"hangul": 3, "latin": 9, "han": 2, "kana": 4, "cyrillic": 7, "other": 0}
    assert script_counts("ภาษาไทย")["other"] > 0  # Thai letters are letters of another script


def test_language_ratio():
    assert language_ratio("사과가 세 개 있습니다.") == 1.0
    assert language_ratio("There are three apples.", "ko") == 0.0
    assert language_ratio("There are three apples.", "en") == 1.0
    # 4 hangul letters, 4 latin letters; the equation and digits do not count.
    assert language_ratio("사과 개수 x + 3 = 7 then") == pytest.approx(4 / 8)
    assert language_ratio("$$x+1=2$$ 3 + 4 = 7") is None
    assert language_ratio("") is None
    assert language_ratio("すしと寿司", "ja") == 1.0
    assert language_ratio("所以我们需要把两个数加起来。", "zh") == 1.0
    assert language_ratio("所以我们需要把两个数加起来。", "latin") == 0.0  # a script name is counted by script


def test_targets():
    assert target_scripts("ko") == ("hangul",)
    assert target_scripts("ko-KR") == ("hangul",)
    assert target_scripts("latin") == ("latin",)
    with pytest.raises(ConfigError, match="unknown target language"):
        target_scripts("xx")
