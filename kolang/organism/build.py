"""Building the organism once and reusing it: cache location, validity check, atomic build, card.json."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from kolang.errors import ConfigError
from kolang.io import atomic_dir, atomic_write_json
from kolang.organism.config import VERSION, OrganismConfig, get_config
from kolang.organism.train import Progress

# Files a usable organism directory must hold.
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "card.json")


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where organisms live: `cache_dir`, else `$KOLANG_CACHE`, else `~/.cache/kolang`."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("KOLANG_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kolang"


def organism_dir(size: str = "full", cache_dir: str | Path | None = None, seed: int = 0) -> Path:
    """The model directory of an organism: `<root>/organism-<version>[-<size>][-seed<k>]`."""
    get_config(size)
    name = f"organism-{VERSION}" + ("" if size == "full" else f"-{size}") + ("" if seed == 0 else f"-seed{seed}")
    return cache_root(cache_dir) / name


def is_valid(path: str | Path, size: str | None = None) -> bool:
    """True when `path` holds a complete organism of this version (and `size`), readable end to end."""
    path = Path(path)
    if not all((path / f).is_file() and (path / f).stat().st_size > 0 for f in REQUIRED):
        return False
    try:
        card = json.loads((path / "card.json").read_text(encoding="utf-8"))
        json.loads((path / "config.json").read_text(encoding="utf-8"))
        json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
        from safetensors import safe_open

        with safe_open(str(path / "model.safetensors"), framework="pt") as f:
            if not list(f.keys()):
                return False
    except Exception:  # any unreadable file means the cache is garbled and gets rebuilt
        return False
    if card.get("version") != VERSION:
        return False
    # A cache made by another recipe of the same version (edited config) is stale, not reusable.
    return size is None or (card.get("size") == size and card.get("config") == get_config(size).to_dict())


def build(size: str = "full", cache_dir: str | Path | None = None, seed: int = 0, force: bool = False,
          progress: Progress | None = None, threads: int | None = None) -> Path:
    """Return the organism's model directory, training it first unless a valid one is cached.

    `threads` (default `$KOLANG_THREADS` or all cores) is recorded in the card: a seed and a thread
    count together fix the result.

    A missing, half-written or garbled cache is rebuilt; the build happens in a temporary
    directory renamed into place, so a crash never leaves a directory that looks usable.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    cfg = get_config(size)
    path = organism_dir(size, cache_dir, seed)
    if not force and is_valid(path, size):
        return path
    from kolang.models import set_threads

    before = torch.get_num_threads()
    set_threads(threads)
    try:
        with atomic_dir(path) as tmp:
            _train_and_save(cfg, tmp, seed, progress)
    finally:
        torch.set_num_threads(before)  # leave the caller's thread setting as it was
    return path


def _train_and_save(cfg: OrganismConfig, out: Path, seed: int, progress: Progress | None) -> None:
    from kolang.analysis.evaluate import evaluate
    from kolang.organism.corpus import build_examples, corpus_texts, mix_counts
    from kolang.organism.tokenizer import save_tokenizer, train_tokenizer
    from kolang.organism.train import make_model, tokenize, train

    t0 = time.perf_counter()
    sp = cfg.problems(seed)
    tok = train_tokenizer(corpus_texts(sp["train"][:4000], 2000, seed), cfg.vocab_size)
    examples = build_examples(sp["train"], cfg.mix, tok, seed)
    data = tokenize(examples, tok, cfg.max_len)
    model = make_model(cfg, tok, seed)
    stats = train(model, data, cfg, seed, tok.pad_token_id, progress)
    model.save_pretrained(str(out))
    save_tokenizer(tok, out)
    build_seconds = time.perf_counter() - t0

    measured: dict[str, Any] = {}
    runs = [("en", 0.0), ("ko", 0.0), ("ko", 1.0)]
    for i, (lang, temp) in enumerate(runs):
        if progress is not None:
            progress("evaluate", i, len(runs))
        r = evaluate(model, tok, sp["eval"], lang, temperature=temp, seed=seed, max_new_tokens=cfg.eval_new_tokens)
        key = f"{lang}_prompts_" + ("greedy" if temp == 0 else f"t{temp:g}")
        measured[key] = {"accuracy": round(r["accuracy"], 4),
                         "accuracy_by_level": {str(k): round(v, 4) for k, v in r["accuracy_by_level"].items()},
                         "korean_share": round(r["target_share"], 4),
                         "mostly_korean": round(r["mostly_target"], 4), "n": r["n"]}
    neurons = korean_neuron_effect(model, tok, sp["train"][:300], sp["eval"], seed)
    if progress is not None:
        progress("evaluate", len(runs), len(runs))
    card = {
        "name": "kolang model organism",
        "version": VERSION,
        "size": cfg.size,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": cfg.to_dict(),
        "data_mix": {"sequences": mix_counts(examples), "shares": cfg.to_dict()["mix"],
                     "train_problems": len(sp["train"]), "eval_problems": len(sp["eval"])},
        "training": {**stats, "build_seconds": round(build_seconds, 1)},
        "measurements": measured,
        "korean_neurons": neurons,
    }
    atomic_write_json(out / "card.json", card)


# Reasoning NLL is measured for these (question language, reasoning language) pairs.
NLL_PAIRS = (("ko", "ko"), ("en", "en"), ("ko", "en"))


def korean_neuron_effect(model, tokenizer, discovery_problems, eval_problems, seed: int = 0, n_random: int = 3,
                         method: str = "ap", top_fraction: float = 0.05) -> dict[str, Any]:
    """Find the Korean neurons on `discovery_problems` (texts in both languages) and ablate them.

    Reports the reasoning NLL of `eval_problems` for each pair of `NLL_PAIRS` with nothing ablated,
    and its rise with the set ablated and with `n_random` layer-matched random sets ablated: the
    set should hurt Korean reasoning clearly more than English, and more than the random sets.
    """
    from kolang.analysis.evaluate import reasoning_nll
    from kolang.data.tasks import discovery_records
    from kolang.neurons.discover import DiscoverConfig, discover
    from kolang.neurons.intervene import ablate

    recs = discovery_records(discovery_problems)
    ns = discover(model, tokenizer, [r["text"] for r in recs], [r["lang"] for r in recs],
                  DiscoverConfig(method=method, top_fraction=top_fraction))

    def nlls() -> dict[str, float]:
        return {f"{q}->{r}": reasoning_nll(model, tokenizer, eval_problems, q, r) for q, r in NLL_PAIRS}

    base = nlls()
    with ablate(model, ns):
        hit = nlls()
    randoms = []
    for k in range(n_random):
        with ablate(model, ns.random_matched(seed=seed + k)):
            randoms.append(nlls())
    return {"method": method, "top_fraction": top_fraction, "neurons": len(ns),
            "per_layer": {str(k): v for k, v in ns.counts().items()},
            "reasoning_nll": {k: round(v, 4) for k, v in base.items()},
            "delta_ablated": {k: round(hit[k] - base[k], 4) for k in base},
            "delta_random": [{k: round(r[k] - base[k], 4) for k in base} for r in randoms]}


def load(size: str = "full", cache_dir: str | Path | None = None, seed: int = 0, device: str | None = None,
         progress: Progress | None = None):
    """`(model, tokenizer)` of the organism, built first if needed."""
    from kolang.models import load_model

    return load_model(build(size, cache_dir, seed, progress=progress), device=device)


def read_card(path: str | Path) -> dict[str, Any]:
    """The card.json of an organism directory."""
    return json.loads((Path(path) / "card.json").read_text(encoding="utf-8"))
