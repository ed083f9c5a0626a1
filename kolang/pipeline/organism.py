"""Building the model organism once and reusing it: train its weights, measure its card, cache it.

The card records what the rest of kolang relies on: held-out accuracy by level and prompt
language, the Korean share of the reasoning, and the effect of ablating its Korean neurons. The
weights are trained by the base (`kolang.organism.cache.train_weights`); measuring them needs
discovery, interventions and evaluation, so it lives here, above the stages.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from kolang.analysis.config import EvalConfig
from kolang.analysis.evaluate import evaluate_model, problem_records, reasoning_nll
from kolang.analysis.interventions import measure_interventions, moved_language
from kolang.analysis.validate import nll_by_language
from kolang.data.tasks import LANGS, discovery_records, has_hard_product
from kolang.errors import ConfigError, KolangNote
from kolang.io import atomic_dir, atomic_write_json, exclusive, holds_only
from kolang.models import MODEL_FILES, load_model, set_threads
from kolang.neurons.config import DiscoverConfig
from kolang.neurons.discover import discover
from kolang.neurons.intervene import ablate
from kolang.organism.cache import digests, is_valid, organism_dir, read_card, shipped_dir, train_weights
from kolang.organism.config import VERSION, OrganismConfig, get_config, ships, with_ko_ko
from kolang.organism.corpus import drill_facts, drill_text
from kolang.organism.train import Progress

# Reasoning NLL is measured for these (question language, reasoning language) pairs.
NLL_PAIRS = (("ko", "ko"), ("en", "en"), ("ko", "en"))


def build(size: str = "full", cache_dir: str | Path | None = None, seed: int = 0, force: bool = False,
          progress: Progress | None = None, threads: int | None = None, train: bool = False,
          ko_ko: float | None = None) -> Path:
    """The organism's model folder: the shipped one for the default (full size, seed 0), else a cached
    one, trained first when none is cached; `train` (or `force`) retrains from scratch into the cache.
    `ko_ko` builds the recipe's variant with that share of Korean->Korean reasoning (`get_config`).

    `threads` (default `$KOLANG_THREADS` or all cores) is recorded in the card: a seed and a thread
    count together fix the result on one machine. A missing, half-written or garbled cache is rebuilt;
    the build happens in a temporary folder renamed into place, so a crash never leaves a folder that
    looks usable.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    cfg = get_config(size, ko_ko)
    if ships(cfg, seed) and not (train or force) and cache_dir is None:
        return shipped_dir()
    path = organism_dir(size, cache_dir, seed, ko_ko)
    if train:
        force = True
    if not force and is_valid(path, size, ko_ko):
        return path
    # One trainer a cache folder: a second process (another demo or experiment worker) waits, then reuses it. The
    # empty lock files stay in `.locks/`, as Hugging Face's cache keeps its own (removing one would race a waiter).
    locks = path.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with exclusive(locks / f"{path.name}.lock",
                   lambda: warnings.warn(f"another process is training the organism into {path}; waiting for it",
                                         KolangNote, stacklevel=2)):
        if not force and is_valid(path, size, ko_ko):
            return path
        before = torch.get_num_threads()
        set_threads(threads)
        try:
            with atomic_dir(path, holds_only((*MODEL_FILES, "card.json")), what="organism cache folder") as tmp:
                _train_and_measure(cfg, tmp, seed, progress)
        finally:
            torch.set_num_threads(before)  # leave the caller's thread setting as it was
    return path


def _train_and_measure(cfg: OrganismConfig, out: Path, seed: int, progress: Progress | None) -> None:
    model, tok, info = train_weights(cfg, out, seed, progress)
    sp = cfg.problems(seed)
    t0 = time.perf_counter()
    measured = measure_card(model, tok, sp["eval"], cfg, seed, progress)
    neurons = card_neurons(model, tok, sp, seed)
    card = {
        "name": "kolang model organism",
        "version": VERSION,
        "size": cfg.size,
        "seed": seed,
        "threads": torch.get_num_threads(),
        # The vector kernels torch ran (AVX512, AVX2 …, or ATEN_CPU_CAPABILITY's choice): another set sums in
        # another order, as another CPU does, so a retrained organism differs by them too.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "parameters": info["parameters"],
        "config": cfg.to_dict(),
        "data_mix": info["data_mix"],
        "training": {**info["training"], "measure_seconds": round(time.perf_counter() - t0, 1)},
        "measurements": measured,
        "korean_neurons": neurons,
        "sha256": digests(out),
    }
    atomic_write_json(out / "card.json", card)


def measure_card(model, tokenizer, problems, cfg: OrganismConfig, seed: int = 0,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Held-out accuracy (overall and by level) and Korean share of the thought, each with a bootstrap 95%
    interval over problems: English and Korean prompts greedy, and Korean prompts sampled at temperature 1
    (avg@4, no nucleus cut: the distribution RL samples from). Level 4 is also split by its kind of product."""
    ecfg = EvalConfig(samples=4, temperature=1.0, top_p=1.0, max_new_tokens=cfg.eval_new_tokens, batch_size=256,
                      seed=seed, bootstrap=1000)
    # Level 4's two halves apart ("subject"): the times-table products it learns, the three-digit ones it cannot.
    records = [{**r, "subject": "hard" if has_hard_product(p) else "times table"} if p.level == 4 else r
               for lang in ("en", "ko") for r, p in zip(problem_records(problems, lang), problems)]
    shown = None if progress is None else (lambda done, total: progress("evaluate", done, total))
    sets = evaluate_model(model, tokenizer, records, ecfg, progress=shown)["sets"]

    def row(lang: str, mode: str) -> dict[str, Any]:
        s = sets[lang]
        acc, share = s[mode]["accuracy"], s[mode]["target_share_thought"]
        levels = s.get("by_level", {})
        return {"accuracy": round(acc["value"], 4), "accuracy_interval": [round(acc["low"], 4), round(acc["high"], 4)],
                "accuracy_by_level": {lv: round(g[mode]["accuracy"]["value"], 4) for lv, g in levels.items()},
                "accuracy_by_level_interval": {lv: [round(g[mode]["accuracy"]["low"], 4),
                                                    round(g[mode]["accuracy"]["high"], 4)] for lv, g in levels.items()},
                "accuracy_level4_by_product": {k: round(g[mode]["accuracy"]["value"], 4)
                                               for k, g in s.get("by_subject", {}).items()},
                "korean_share": round(share["value"] or 0.0, 4),
                "korean_share_interval": [round(share["low"] or 0.0, 4), round(share["high"] or 0.0, 4)],
                "n": s["n"], **({"samples": ecfg.samples, "temperature": ecfg.temperature} if mode == "sampled" else {})}

    return {"en_prompts_greedy": row("en", "greedy"), "ko_prompts_greedy": row("ko", "greedy"),
            "ko_prompts_t1": row("ko", "sampled")}


def korean_neuron_effect(model, tokenizer, discovery_problems, eval_problems, seed: int = 0, n_random: int = 3,
                         method: str = "ap", top_fraction: float = 0.05, n_interventions: int = 100,
                         n_drills: int = 200) -> dict[str, Any]:
    """Find the Korean neurons on `discovery_problems` (texts in both languages) and ablate them.

    Reports the reasoning NLL of `eval_problems` for each pair of `NLL_PAIRS` with nothing ablated,
    and its rise with the set ablated and with `n_random` layer-matched random sets ablated: the
    set should hurt Korean reasoning clearly more than English, and more than the random sets; the
    same for `n_drills` drills a language built from the steps of `eval_problems`. Then
    each of `INTERVENTIONS` on the set, over the first `n_interventions` problems asked in Korean:
    accuracy and Korean share of the reasoning, greedy and sampled, with intervals, and which
    interventions move the language outside the unedited model's interval.
    """
    recs = discovery_records(discovery_problems)
    ns = discover(model, tokenizer, [r["text"] for r in recs], [r["lang"] for r in recs],
                  DiscoverConfig(method=method, top_fraction=top_fraction))

    # Drills: text the organism was trained to write in both languages (the same facts in each), unlike Korean
    # reasoning after a question, which it never wrote (about 3 nats a token) and which any edit moves either way.
    rng = random.Random(0)
    facts = [drill_facts(eval_problems, rng, min(6, len(eval_problems))) for _ in range(n_drills)]
    drills, drill_langs = [drill_text(f, lang) for f in facts for lang in LANGS], [lang for _ in facts for lang in LANGS]

    def nlls() -> dict[str, float]:
        out = {f"{q}->{r}": reasoning_nll(model, tokenizer, eval_problems, q, r) for q, r in NLL_PAIRS}
        by_lang = nll_by_language(model, tokenizer, drills, drill_langs) if n_drills else {}
        return {**out, **{f"drill-{lang}": v["nll"] for lang, v in by_lang.items()}}

    base = nlls()
    with ablate(model, ns):
        hit = nlls()
    randoms = []
    for k in range(n_random):
        with ablate(model, ns.random_matched(seed=seed + k)):
            randoms.append(nlls())
    pairs = [f"{q}->{r}" for q, r in NLL_PAIRS]
    dkeys = [k for k in base if k.startswith("drill-")]
    moved: dict[str, Any] = {}
    if n_interventions:
        ecfg = EvalConfig(samples=4, temperature=1.0, top_p=1.0, max_new_tokens=64, batch_size=256, seed=seed)
        moved = measure_interventions(model, tokenizer, ns, problem_records(eval_problems[:n_interventions], "ko"), ecfg)
        moved["moved_language"] = {mode: moved_language(moved, mode) for mode in ("greedy", "sampled")}
    return {"method": method, "top_fraction": top_fraction, "neurons": len(ns), "interventions": moved,
            "per_layer": {str(k): v for k, v in ns.counts().items()},
            "reasoning_nll": {k: round(base[k], 4) for k in pairs},
            "delta_ablated": {k: round(hit[k] - base[k], 4) for k in pairs},
            "delta_random": [{k: round(r[k] - base[k], 4) for k in pairs} for r in randoms],
            "drill_nll": {k: round(base[k], 4) for k in dkeys},
            "delta_ablated_drills": {k: round(hit[k] - base[k], 4) for k in dkeys},
            "delta_random_drills": [{k: round(r[k] - base[k], 4) for k in dkeys} for r in randoms]}


def card_neurons(model, tokenizer, problems: dict[str, list[Any]], seed: int) -> dict[str, Any]:
    """The card's `korean_neurons`: `korean_neuron_effect` with the set found on the first 300 of the organism's
    training problems and measured on its held-out ones (`problems` is `OrganismConfig.problems(seed)`)."""
    return korean_neuron_effect(model, tokenizer, problems["train"][:300], problems["eval"], seed)


def remeasure_neurons(path: str | Path) -> dict[str, Any]:
    """Measure the `korean_neurons` of the organism card in `path` again with this code and write the card back
    (atomically); the weights, and the digests the card holds of them, stay as they are. Returns the card."""
    card = read_card(path)
    model, tok = load_model(path)
    cfg = with_ko_ko(get_config(card["size"]), card["config"]["mix"]["ko_ko"])
    card["korean_neurons"] = card_neurons(model, tok, cfg.problems(card["seed"]), card["seed"])
    atomic_write_json(Path(path) / "card.json", card)
    return card


def organism_summary(path: str | Path) -> dict[str, Any]:
    """What a run's summary records of the organism it ran on (its card's version, size, seed and digests), so
    results from two runs are compared only when they started from the same weights."""
    card = read_card(path)
    return {"version": card.get("version"), "size": card.get("size"), "seed": card.get("seed"),
            "parameters": card.get("parameters"), "sha256": card.get("sha256")}


def load(size: str = "full", cache_dir: str | Path | None = None, seed: int = 0, device: str | None = None,
         progress: Progress | None = None):
    """`(model, tokenizer)` of the organism, built first if needed."""
    return load_model(build(size, cache_dir, seed, progress=progress), device=device)
