"""Where organisms live and whether a folder holds a usable one; training one's weights from scratch.

The default organism ships inside the package (`shipped/`: weights, tokenizer and card, with the
sha256 of every file in the card, checked on load), so every machine starts from the same model.
Others (another seed or size, a retrained recipe) live in the cache. The card's measurements are the
pipeline's (`kolang.pipeline.organism`), which calls `train_weights` and then measures."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from safetensors import safe_open

from kolang.errors import ModelError
from kolang.organism.config import VERSION, OrganismConfig, get_config, variant_suffix
from kolang.organism.corpus import build_examples, corpus_texts, mix_counts
from kolang.organism.tokenizer import save_tokenizer, train_tokenizer
from kolang.organism.train import Progress, make_model, tokenize, train

# Files a usable organism directory must hold.
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "card.json")
SHIPPED = Path(__file__).resolve().parent / "shipped"  # package data: the default organism


def digests(path: str | Path) -> dict[str, str]:
    """{file name: sha256} of every file of an organism folder but its card (which records them)."""
    out = {}
    for f in sorted(Path(path).iterdir()):
        if f.is_file() and f.name != "card.json" and not f.name.startswith("."):
            out[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def shipped_dir() -> Path:
    """The folder of the organism shipped with kolang, its files checked against the card's sha256."""
    if not (SHIPPED / "card.json").is_file():
        raise ModelError(f"the shipped organism is missing from {SHIPPED}; reinstall kolang, or train one with "
                         "`kolang organism --train`")
    card = read_card(SHIPPED)
    found = digests(SHIPPED)
    bad = sorted(name for name, h in card.get("sha256", {}).items() if found.get(name) != h)
    if bad or not card.get("sha256"):
        raise ModelError(f"the shipped organism in {SHIPPED} does not match its card (sha256 of "
                         f"{', '.join(bad) or 'every file'}); reinstall kolang")
    return SHIPPED


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where organisms live: `cache_dir`, else `$KOLANG_CACHE`, else `$XDG_CACHE_HOME/kolang`, else
    `~/.cache/kolang` (the order Hugging Face's own cache follows)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("KOLANG_CACHE"):
        return Path(os.environ["KOLANG_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "kolang"


def organism_dir(size: str = "full", cache_dir: str | Path | None = None, seed: int = 0,
                 ko_ko: float | None = None) -> Path:
    """The model directory of an organism: `<root>/organism-<version>[-<size>][-koko<percent>][-seed<k>]`."""
    cfg = get_config(size, ko_ko)
    name = (f"organism-{VERSION}" + ("" if size == "full" else f"-{size}") + variant_suffix(cfg)
            + ("" if seed == 0 else f"-seed{seed}"))
    return cache_root(cache_dir) / name


def is_valid(path: str | Path, size: str | None = None, ko_ko: float | None = None) -> bool:
    """True when `path` holds a complete organism of this version (and `size`, and Korean->Korean share
    `ko_ko`: see `get_config`), readable end to end."""
    path = Path(path)
    if not all((path / f).is_file() and (path / f).stat().st_size > 0 for f in REQUIRED):
        return False
    try:
        card = json.loads((path / "card.json").read_text(encoding="utf-8"))
        json.loads((path / "config.json").read_text(encoding="utf-8"))
        json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))

        with safe_open(str(path / "model.safetensors"), framework="pt") as f:
            if not list(f.keys()):
                return False
    except Exception:  # any unreadable file means the cache is garbled and gets rebuilt
        return False
    if card.get("version") != VERSION:
        return False
    if card.get("sha256") and card["sha256"] != digests(path):  # a file changed since the card was written
        return False
    # A cache made by another recipe of the same version (edited config) is stale, not reusable.
    return size is None or (card.get("size") == size and card.get("config") == get_config(size, ko_ko).to_dict())


def train_weights(cfg: OrganismConfig, out: Path, seed: int, progress: Progress | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Train the organism of `cfg` from scratch and save its weights and tokenizer into `out`.

    Returns (model, tokenizer, what the card records about the training: data mix and statistics).
    """
    t0 = time.perf_counter()
    sp = cfg.problems(seed)
    tok = train_tokenizer(corpus_texts(sp["train"][:4000], 2000, seed), cfg.vocab_size)
    examples = build_examples(sp["train"], cfg.mix, tok, seed)
    data = tokenize(examples, tok, cfg.max_len)
    model = make_model(cfg, tok, seed)
    stats = train(model, data, cfg, seed, tok.pad_token_id, progress)
    model.save_pretrained(str(out))
    save_tokenizer(tok, out)
    info = {"parameters": sum(p.numel() for p in model.parameters()),
            "data_mix": {"sequences": mix_counts(examples), "shares": cfg.to_dict()["mix"],
                         "train_problems": len(sp["train"]), "eval_problems": len(sp["eval"])},
            "training": {**stats, "build_seconds": round(time.perf_counter() - t0, 1)}}
    return model, tok, info


def read_card(path: str | Path) -> dict[str, Any]:
    """The card.json of an organism directory."""
    return json.loads((Path(path) / "card.json").read_text(encoding="utf-8"))
