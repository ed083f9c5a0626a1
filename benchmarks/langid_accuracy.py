"""How well each language-identification path names the language of short reasoning lines, and how fast.

The lines are kolang's test set (tests/analysis/langid_lines.jsonl): 42-43 hand-written reasoning
lines a language in ko, en, fr, zh, ja, ru and uk (the same word-problem steps in each, plus
one-to-four-word lines such as "Wait." or "Гаразд."), and 25 lines that switch language mid-line.
A pure line is identified correctly when its own language has the highest share among the seven
(ties are errors: by script alone French is as English as English). A mixed line is scored by the
mean absolute error of the share of each of its languages against the share of its letters.

Paths: "script" counts letters by script for every target; "auto" is kolang's choice per target
(`language_path`: script for ko, the identifier for the others). `--compare` re-runs auto with the
candidates kolang measured against, when they are installed (py3langid; lingua-language-detector in
its low- and high-accuracy modes), by swapping the identifier `analysis.language` calls.

    python benchmarks/langid_accuracy.py [--compare]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import kolang.analysis.language as language
from kolang.analysis.language import language_ratio, script_counts, script_share, strip_nonlinguistic, target_scripts

LINES = Path(__file__).parents[1] / "tests" / "analysis" / "langid_lines.jsonl"
LANGS = ("ko", "en", "fr", "zh", "ja", "ru", "uk")


def by_script(text: str, target: str) -> float | None:
    return script_share(script_counts(text, strip=True), target_scripts(target))


def identified(text: str, share) -> str | None:
    shares = {t: share(text, t) or 0.0 for t in LANGS}
    best = max(shares.values())
    tops = [t for t, v in shares.items() if v == best]
    return tops[0] if len(tops) == 1 and best > 0 else None


def measure(share, rows: list[dict]) -> dict:
    """Accuracy a language and overall on pure lines, MAE on mixed lines, µs a line (seven targets each)."""
    pure = [r for r in rows if "lang" in r]
    mixed = [r for r in rows if "parts" in r]
    t0 = time.perf_counter()
    hits: dict[str, list[bool]] = {lang: [] for lang in LANGS}
    for r in pure:
        hits[r["lang"]].append(identified(r["text"], share) == r["lang"])
    errors = []
    for r in mixed:
        text = " ".join(p for _, p in r["parts"])
        letters = {lang: len(strip_nonlinguistic(p).replace(" ", "")) for lang, p in r["parts"]}
        errors += [abs((share(text, lang) or 0.0) - n / sum(letters.values())) for lang, n in letters.items()]
    dt = time.perf_counter() - t0
    return {"accuracy": {lang: sum(v) / len(v) for lang, v in hits.items()},
            "overall": sum(map(sum, hits.values())) / len(pure), "mixed_mae": sum(errors) / len(errors),
            "us_per_line": dt / (len(pure) + len(mixed)) * 1e6}


def _others() -> dict:
    """Identifiers to compare, `identify(words, candidates)` each, for those installed."""
    out = {}
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        base = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)

        @functools.cache
        def restricted(cands):
            import copy

            ident = copy.copy(base)
            ident.set_languages(list(cands))
            return ident

        out["py3langid"] = lambda words, cands: restricted(cands).classify(words)[0]
    except ImportError:
        pass
    try:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        for mode in ("low", "high"):
            @functools.cache
            def detector(cands, mode=mode):
                b = LanguageDetectorBuilder.from_iso_codes_639_1(*[getattr(IsoCode639_1, c.upper()) for c in cands])
                return (b.with_low_accuracy_mode() if mode == "low" else b).with_preloaded_language_models().build()

            def lingua(words, cands, detector=detector):
                found = detector(cands).detect_language_of(words)
                return found.iso_code_639_1.name.lower() if found else "und"

            out[f"lingua ({mode} accuracy)"] = lingua
    except ImportError:
        pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="store_true", help="also measure py3langid and lingua when installed")
    a = ap.parse_args()
    rows = [json.loads(x) for x in LINES.read_text(encoding="utf-8").splitlines()]
    language_ratio("warm up", "fr")  # loads the model
    runs = {"script": by_script, f"auto ({language.BACKEND})": language_ratio}
    results = {name: measure(fn, rows) for name, fn in runs.items()}
    if a.compare:
        kolang_identify = language.identify
        for name, fn in _others().items():
            language.identify = functools.lru_cache(maxsize=1 << 15)(fn)
            for cands in {c for c in language.SCRIPT_LANGUAGES.values() if len(c) > 1}:
                language.identify("warm up", cands)  # model loading is not timed
            results[f"auto ({name})"] = measure(language_ratio, rows)
        language.identify = kolang_identify
    print(f"{sum('lang' in r for r in rows)} lines in {len(LANGS)} languages, {sum('parts' in r for r in rows)} mixed")
    print(f"{'path':<28}" + "".join(f"{lang:>6}" for lang in LANGS) + f"{'all':>7}{'mixed MAE':>11}{'µs/line':>9}")
    for name, r in results.items():
        print(f"{name:<28}" + "".join(f"{r['accuracy'][lang]:>6.2f}" for lang in LANGS)
              + f"{r['overall']:>7.3f}{r['mixed_mae']:>11.3f}{r['us_per_line']:>9.0f}")


if __name__ == "__main__":
    main()
