"""The organism's training corpus: word problems paired by language per the mix, plus plain sentences."""

from __future__ import annotations

import random
from dataclasses import dataclass

from kolang.data.chat import format_prompt
from kolang.data.sentences import parallel_sentences
from kolang.data.tasks import Problem, render_step
from kolang.organism.config import Mix

PAIRINGS = (("en", "en"), ("ko", "en"), ("ko", "ko"))


@dataclass(frozen=True)
class Example:
    """One training sequence: a prompt (no loss) followed by a target (loss)."""

    prompt: str
    """Text the loss ignores: a chat-formatted question, or "" for plain sentences."""
    target: str
    """Text the model learns to produce: a solution ending in the end-of-turn token, or sentences."""
    kind: str
    """"en->en", "ko->en", "ko->ko", "text-ko" / "text-en" or "drill-ko" / "drill-en"."""


def build_examples(problems: list[Problem], mix: Mix, tokenizer, seed: int,
                   sentences_per_text: int = 3, facts_per_drill: int = 6) -> list[Example]:
    """Pair each problem with one (question, reasoning) language pairing drawn from `mix`, and add
    `mix.sentences * len(problems)` plain-text sequences of a few same-language sentences each and
    `mix.drills * len(problems)` drills of `facts_per_drill` solution sentences each."""
    rng = random.Random(seed)
    weights = (mix.en_en, mix.ko_en, mix.ko_ko)
    eos = tokenizer.eos_token
    out: list[Example] = []
    for p in problems:
        q_lang, r_lang = rng.choices(PAIRINGS, weights=weights)[0]
        out.append(Example(format_prompt(tokenizer, p.question[q_lang]), p.solution(r_lang) + eos,
                           f"{q_lang}->{r_lang}"))
    n_text = int(round(mix.sentences * len(problems)))
    pairs = parallel_sentences(n_text * sentences_per_text, seed=seed + 1)
    for i in range(n_text):
        lang = "ko" if i % 2 == 0 else "en"
        chunk = pairs[i * sentences_per_text:(i + 1) * sentences_per_text]
        out.append(Example("", " ".join(s[lang] for s in chunk) + "<|endoftext|>", f"text-{lang}"))
    for i in range(int(round(mix.drills * len(problems)))):
        lang = "ko" if rng.random() < mix.drills_ko else "en"
        out.append(Example("", drill_text(drill_facts(problems, rng, facts_per_drill), lang), f"drill-{lang}"))
    rng.shuffle(out)
    return out


def drill_facts(problems: list[Problem], rng: random.Random, n: int = 6) -> list[tuple[str, int, int, int]]:
    """`n` solution steps (op, a, b, result) of random problems, so drills follow the levels' own distribution."""
    return [s for p in rng.sample(problems, n) for s in p.ops][:n]


def drill_text(facts: list[tuple[str, int, int, int]], lang: str) -> str:
    """A plain-text drill as the organism is trained on it: the facts' solution sentences in `lang`, then the
    end-of-text token."""
    return " ".join(render_step(lang, *f) for f in facts) + "<|endoftext|>"


def corpus_texts(problems: list[Problem], n_sentences: int, seed: int) -> list[str]:
    """Raw texts in both languages for training the tokenizer (questions, solutions, sentences)."""
    texts = [p.question[lang] + "\n" + p.solution(lang) for p in problems for lang in ("ko", "en")]
    texts += [s[lang] for s in parallel_sentences(n_sentences, seed=seed + 1) for lang in ("ko", "en")]
    return texts


def mix_counts(examples: list[Example]) -> dict[str, int]:
    """How many sequences of each kind the corpus holds (recorded in card.json)."""
    counts: dict[str, int] = {}
    for e in examples:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    return dict(sorted(counts.items()))
