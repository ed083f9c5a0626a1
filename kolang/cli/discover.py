"""`kolang discover`: find a language's neurons in a model and save them as a NeuronSet artifact."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from kolang.cli._common import (
    DATA_HELP,
    MODEL_HELP,
    corpus_arg,
    layers_arg,
    load_arg,
    model_arg,
    out_arg,
    progress,
    quiet_libraries,
    say,
    tokens_rate,
)
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.data.discovery import CorpusConfig, load_discovery
from kolang.loading import LoadConfig
from kolang.neurons.config import JSON_NAME, TENSORS_NAME, DiscoverConfig


def bundled_discovery_texts(n: int = 600, seed: int = 0) -> tuple[list[str], list[str]]:
    """Parallel Korean/English sentences from the bundled generator, as (texts, langs)."""
    from kolang.data.discovery import records_to_texts
    from kolang.data.sentences import parallel_sentences

    return records_to_texts(parallel_sentences(n, seed), source="bundled sentences")


@command("discover", DiscoverConfig, LoadConfig, CorpusConfig)
def _discover(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", help="Folder to write the NeuronSet to (neurons.json + neurons.safetensors)."),
    data: Optional[list[str]] = typer.Option(None, "--data", help=DATA_HELP),
    dtype: str = typer.Option("auto", "--dtype", help="Model dtype: auto, fp32, bf16, fp16."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: cuda if present)."),
    **kwargs,
) -> None:
    """Find the neurons that carry --target (vs --reference) and write neurons.json + neurons.safetensors."""
    cfg = from_kwargs(DiscoverConfig, kwargs)
    load = load_arg(from_kwargs(LoadConfig, kwargs), device)
    corpus = from_kwargs(CorpusConfig, kwargs)
    layers_arg(cfg.layers)
    source = model_arg(model, load.revision)
    out_arg(out, (JSON_NAME, TENSORS_NAME))
    corpus_arg(data, corpus)
    say(f"discover: {cfg.method} neurons of '{cfg.target}' vs {', '.join(cfg.reference)} in {source} → {out}")
    quiet_libraries()
    from kolang.models import load_model, set_threads
    from kolang.neurons.discover import cap_per_language, discover

    set_threads()
    texts, langs = load_discovery(data, corpus, cfg.max_texts) if data else bundled_discovery_texts()
    hf, tok = load_model(source, dtype=dtype, device=device, **load.load_kwargs())
    n = len(cap_per_language(texts, langs, cfg.max_texts)[0])
    start = time.perf_counter()
    with progress("reading", n) as update:
        ns = discover(hf, tok, texts, langs, cfg, progress=lambda t, k: update(t, tokens_rate(start, k)))
    ns.save(out)
    counts = ns.counts()
    say(f"selected {len(ns)} neurons in {len(counts)} layers "
        f"({', '.join(f'{k}:{v}' for k, v in sorted(counts.items()))}) → {out}")
