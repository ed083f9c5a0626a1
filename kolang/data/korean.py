"""Korean morphology for generated text: final consonants (batchim), particles and counters.

Particles in Korean depend on whether the preceding word ends in a consonant (받침): 사과를 but
책을, 민수는 but 지훈은. Digits count too, read aloud the Sino-Korean way: 3 is 삼 (consonant, so
3을), 2 is 이 (vowel, so 2를), and a multi-digit number is read by its last spoken unit (10 십,
100 백, 1000 천, 10000 만 all end in a consonant; 20 이십 too).
"""

from __future__ import annotations

from typing import NamedTuple

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3
# The 28 final-consonant slots of a precomposed syllable; index 0 is "no final consonant".
JONGSEONG = ("", "ㄱ", "ㄲ", "ㄳ", "ㄴ", "ㄵ", "ㄶ", "ㄷ", "ㄹ", "ㄺ", "ㄻ", "ㄼ", "ㄽ", "ㄾ", "ㄿ", "ㅀ",
             "ㅁ", "ㅂ", "ㅄ", "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ")

# Sino-Korean readings: digits, then the units that end a number written with trailing zeros.
SINO_DIGITS = ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
SINO_UNITS = ((10**12, "조"), (10**8, "억"), (10**4, "만"), (1000, "천"), (100, "백"), (10, "십"))

# Particle pairs: (form after a consonant, form after a vowel).
PARTICLES = {
    "이/가": ("이", "가"),
    "은/는": ("은", "는"),
    "을/를": ("을", "를"),
    "과/와": ("과", "와"),
    "으로/로": ("으로", "로"),
    "이랑/랑": ("이랑", "랑"),
    "이에요/예요": ("이에요", "예요"),
}


def is_hangul_syllable(ch: str) -> bool:
    """True for one precomposed Hangul syllable (가..힣)."""
    return len(ch) == 1 and HANGUL_FIRST <= ord(ch) <= HANGUL_LAST


def sino_reading(n: int) -> str:
    """The last spoken unit of `n` read the Sino-Korean way (e.g. 13 -> "삼", 20 -> "십", 0 -> "영").

    Only the final unit decides a particle, so only it is returned.
    """
    n = abs(int(n))
    if n % 10:
        return SINO_DIGITS[n % 10]
    if n == 0:
        return SINO_DIGITS[0]
    # Trailing zeros: the number ends in the largest unit that divides it exactly, read within its
    # group of four digits (20 -> 이십, 300 -> 삼백, 5000 -> 오천, 20000 -> 이만, 10^8 -> 억).
    for unit, name in SINO_UNITS:
        if n % unit == 0:
            return name
    raise AssertionError("unreachable")  # pragma: no cover


def _last_sound(word: str | int) -> str | None:
    """The syllable whose final consonant decides a particle, or None if none can be found."""
    if isinstance(word, int):
        return sino_reading(word)
    text = str(word).rstrip(" .,!?)]\"'")
    if not text:
        return None
    # A trailing run of digits is read as a number ("사과 12" -> 이, "12" -> 이).
    i = len(text)
    while i > 0 and text[i - 1].isdigit():
        i -= 1
    if i < len(text):
        return sino_reading(int(text[i:]))
    ch = text[-1]
    return ch if is_hangul_syllable(ch) else None


def final_consonant(word: str | int) -> str | None:
    """The final consonant jamo of the last syllable of `word` ("" for an open syllable).

    Returns None when the word ends in neither a Hangul syllable nor a digit.
    """
    ch = _last_sound(word)
    if ch is None:
        return None
    return JONGSEONG[(ord(ch) - HANGUL_FIRST) % 28]


def has_batchim(word: str | int) -> bool:
    """True when `word` (Hangul, digits, or an int) ends in a consonant when read aloud.

    Latin letters and symbols have no reliable reading; they count as vowel-final.
    """
    return bool(final_consonant(word))


def particle(word: str | int, kind: str) -> str:
    """The form of particle `kind` ("이/가", "은/는", "을/를", "과/와", "으로/로", ...) after `word`.

    으로/로 follows the ㄹ exception: a word ending in ㄹ takes 로 (서울로, 칠로 = 7로).
    """
    if kind not in PARTICLES:
        raise ValueError(f"unknown particle '{kind}'; use one of {', '.join(PARTICLES)}")
    after_consonant, after_vowel = PARTICLES[kind]
    fc = final_consonant(word)
    if kind == "으로/로" and fc == "ㄹ":
        return after_vowel
    return after_consonant if fc else after_vowel


def attach(word: str | int, kind: str) -> str:
    """`word` followed by the right form of particle `kind` (e.g. attach(3, "을/를") -> "3을")."""
    return f"{word}{particle(word, kind)}"


class Counter(NamedTuple):
    """A counter word (classifier) and how numbers before it are read."""

    word: str
    """The counter itself, e.g. "개"."""
    native: bool
    """True when small numbers before it use native Korean numerals (한 개, 두 명)."""


COUNTERS = {
    "개": Counter("개", True),      # things
    "명": Counter("명", True),      # people
    "권": Counter("권", True),      # books
    "마리": Counter("마리", True),  # animals
    "자루": Counter("자루", True),  # pencils, pens
    "장": Counter("장", True),      # sheets, tickets
    "대": Counter("대", True),      # cars, machines
    "병": Counter("병", True),      # bottles
    "잔": Counter("잔", True),      # cups
    "송이": Counter("송이", True),  # flowers
    "상자": Counter("상자", True),  # boxes
    "봉지": Counter("봉지", True),  # bags
    "원": Counter("원", False),     # won (money): always Sino-Korean
    "분": Counter("분", False),     # minutes
    "층": Counter("층", False),     # floors
}

# Native numerals 1..9 in their attributive (before-counter) forms, and the tens 10..90.
_NATIVE_ONES = ("", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉")
_NATIVE_TENS = ("", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔")


def native_number(n: int) -> str:
    """Native Korean numeral for 1..99 in the form used before a counter (1 한, 20 스무, 21 스물한)."""
    if not 1 <= n <= 99:
        raise ValueError(f"native numerals cover 1..99, got {n}")
    tens, ones = divmod(n, 10)
    if n == 20:
        return "스무"  # 스물 shortens before a counter
    return _NATIVE_TENS[tens] + _NATIVE_ONES[ones]


def count_phrase(n: int, counter: str, spelled: bool = False) -> str:
    """`n` with `counter`: digits by default ("3개"), native words when `spelled` ("세 개").

    Written Korean usually attaches digits directly to the counter; spelled-out native numerals
    are natural for small numbers (≤ 99) with native counters and are separated by a space.
    """
    c = COUNTERS.get(counter)
    if c is None:
        raise ValueError(f"unknown counter '{counter}'; use one of {', '.join(COUNTERS)}")
    if spelled and c.native and 1 <= n <= 99:
        return f"{native_number(n)} {c.word}"
    return f"{n}{c.word}"
