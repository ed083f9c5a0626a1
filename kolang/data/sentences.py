"""Parallel Korean/English everyday sentences, templated, for neuron discovery and language modelling.

`kolang discover` needs text in both languages for any model even when the user passes none, and
the model organism needs plain Korean and English text beside its word problems so that neurons
specific to each language form (Tang et al., ACL 2024, find them where a model has seen both).
"""

from __future__ import annotations

import random

from kolang.data.korean import attach

# (Korean, English) vocabularies for the slots.
_NAMES = (("민수", "Minsu"), ("지훈", "Jihun"), ("서연", "Seoyeon"), ("하준", "Hajun"), ("유나", "Yuna"),
          ("도윤", "Doyun"), ("은지", "Eunji"), ("준호", "Junho"))
_PLACES = (("학교", "school"), ("도서관", "library"), ("시장", "market"), ("공원", "park"), ("병원", "hospital"),
           ("회사", "office"), ("식당", "restaurant"), ("은행", "bank"), ("역", "station"), ("바다", "beach"))
_TIMES = (("오늘", "today"), ("내일", "tomorrow"), ("어제", "yesterday"), ("아침에", "in the morning"),
          ("저녁에", "in the evening"), ("주말에", "on the weekend"))
_WEATHER = (("맑습니다", "sunny"), ("흐립니다", "cloudy"), ("춥습니다", "cold"), ("덥습니다", "hot"),
            ("따뜻합니다", "warm"), ("시원합니다", "cool"))
_FOODS = (("김치", "kimchi"), ("비빔밥", "bibimbap"), ("라면", "ramen"), ("빵", "bread"), ("사과", "apples"),
          ("커피", "coffee"), ("떡볶이", "tteokbokki"), ("불고기", "bulgogi"), ("생선", "fish"), ("우유", "milk"))
_JOBS = (("선생님", "a teacher"), ("의사", "a doctor"), ("요리사", "a cook"), ("학생", "a student"),
         ("운전기사", "a driver"), ("간호사", "a nurse"), ("회사원", "an office worker"), ("경찰관", "a police officer"))
_ACTIVITIES = (("책을 읽습니다", "reads a book"), ("음악을 듣습니다", "listens to music"),
               ("친구를 만납니다", "meets a friend"), ("운동을 합니다", "exercises"),
               ("숙제를 합니다", "does homework"), ("영화를 봅니다", "watches a movie"),
               ("청소를 합니다", "cleans the house"), ("요리를 합니다", "cooks dinner"))
_FAMILY = (("어머니", "mother"), ("아버지", "father"), ("언니", "older sister"), ("동생", "younger sibling"),
           ("할머니", "grandmother"), ("친구", "friend"))
_COLORS = (("빨간", "red"), ("파란", "blue"), ("노란", "yellow"), ("하얀", "white"), ("검은", "black"))
_THINGS = (("가방", "bag"), ("우산", "umbrella"), ("모자", "hat"), ("자전거", "bicycle"), ("신발", "shoes"))


def _s_goes(r: random.Random) -> dict[str, str]:
    (nk, ne), (pk, pe), (tk, te) = r.choice(_NAMES), r.choice(_PLACES), r.choice(_TIMES)
    return {"ko": f"{tk} {attach(nk, '은/는')} {pk}에 갑니다.", "en": f"{ne} goes to the {pe} {te}."}


def _s_weather(r: random.Random) -> dict[str, str]:
    (tk, te), (wk, we) = r.choice(_TIMES[:3]), r.choice(_WEATHER)
    verb = {"today": "is", "tomorrow": "will be", "yesterday": "was"}[te]
    if te == "yesterday":
        wk = {"맑습니다": "맑았습니다", "흐립니다": "흐렸습니다", "춥습니다": "추웠습니다", "덥습니다": "더웠습니다",
              "따뜻합니다": "따뜻했습니다", "시원합니다": "시원했습니다"}[wk]
    elif te == "tomorrow":
        wk = {"맑습니다": "맑겠습니다", "흐립니다": "흐리겠습니다", "춥습니다": "춥겠습니다", "덥습니다": "덥겠습니다",
              "따뜻합니다": "따뜻하겠습니다", "시원합니다": "시원하겠습니다"}[wk]
    return {"ko": f"{tk} 날씨가 {wk}.", "en": f"The weather {verb} {we} {te}."}


def _s_likes(r: random.Random) -> dict[str, str]:
    (nk, ne), (fk, fe) = r.choice(_NAMES), r.choice(_FOODS)
    return {"ko": f"{attach(nk, '은/는')} {attach(fk, '을/를')} 좋아해요.", "en": f"{ne} likes {fe}."}


def _s_job(r: random.Random) -> dict[str, str]:
    (fk, fe), (jk, je) = r.choice(_FAMILY), r.choice(_JOBS)
    return {"ko": f"제 {attach(fk, '은/는')} {jk}입니다.", "en": f"My {fe} is {je}."}


def _s_activity(r: random.Random) -> dict[str, str]:
    (nk, ne), (tk, te), (ak, ae) = r.choice(_NAMES), r.choice(_TIMES[3:]), r.choice(_ACTIVITIES)
    return {"ko": f"{attach(nk, '은/는')} {tk} {ak}.", "en": f"{ne} {ae} {te}."}


def _s_count(r: random.Random) -> dict[str, str]:
    (pk, pe), n = r.choice(_PLACES), r.randint(2, 40)
    return {"ko": f"{pk}에 사람이 {n}명 있어요.", "en": f"There are {n} people at the {pe}."}


def _s_wake(r: random.Random) -> dict[str, str]:
    (nk, ne), h = r.choice(_NAMES), r.randint(5, 9)
    return {"ko": f"{attach(nk, '은/는')} 매일 {h}시에 일어나요.", "en": f"{ne} wakes up at {h} every day."}


def _s_buy(r: random.Random) -> dict[str, str]:
    (nk, ne), (ck, ce), (thk, the), won = r.choice(_NAMES), r.choice(_COLORS), r.choice(_THINGS), r.randint(2, 50) * 1000
    return {"ko": f"{attach(nk, '이/가')} {ck} {attach(thk, '을/를')} {won}원에 샀습니다.",
            "en": f"{ne} bought a {ce} {the} for {won} won."}


def _s_eat(r: random.Random) -> dict[str, str]:
    (fk, fe), (pk, pe) = r.choice(_FOODS), r.choice(_PLACES[6:7] + _PLACES[:4])
    return {"ko": f"우리는 {pk}에서 {attach(fk, '을/를')} 먹었어요.", "en": f"We ate {fe} at the {pe}."}


def _s_with(r: random.Random) -> dict[str, str]:
    (nk, ne), (fk, fe), (pk, pe) = r.choice(_NAMES), r.choice(_FAMILY), r.choice(_PLACES)
    return {"ko": f"{attach(nk, '은/는')} {attach(fk, '과/와')} 함께 {pk}에 갔어요.",
            "en": f"{ne} went to the {pe} with a {fe}." if fe == "friend" else f"{ne} went to the {pe} with {ne}'s {fe}."}


def _s_question(r: random.Random) -> dict[str, str]:
    pk, pe = r.choice(_PLACES)
    return {"ko": f"{pk}에 어떻게 가요?", "en": f"How do I get to the {pe}?"}


_TEMPLATES = (_s_goes, _s_weather, _s_likes, _s_job, _s_activity, _s_count, _s_wake, _s_buy, _s_eat, _s_with,
              _s_question)


def parallel_sentences(n: int, seed: int = 0) -> list[dict[str, str]]:
    """`n` parallel `{"ko", "en"}` sentence pairs, distinct while the template space allows, seeded."""
    r = random.Random(seed)
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < n:
        pair = r.choice(_TEMPLATES)(r)
        tries += 1
        # Past a few thousand pairs the space runs dry; then repeats are allowed rather than looping.
        if pair["en"] in seen and tries < 20 * n + 100:
            continue
        seen.add(pair["en"])
        out.append(pair)
    return out
