"""`kolang discover`: find a language's neurons in a model and save them as a NeuronSet artifact."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import typer

from kolang.cli import app
from kolang.cli._progress import console, reading
from kolang.cli.options import cli_options
from kolang.config import from_kwargs
from kolang.neurons.config import DiscoverConfig


def bundled_discovery_texts(n: int = 600, seed: int = 0) -> tuple[list[str], list[str]]:
    """Parallel Korean/English sentences from the bundled generator, as (texts, langs)."""
    from kolang.data.discovery import records_to_texts
    from kolang.data.sentences import parallel_sentences

    return records_to_texts(parallel_sentences(n, seed), source="bundled sentences")


def _discover(
    model: Path = typer.Option(..., "--model", help="Hugging Face model directory."),
    out: Path = typer.Option(..., "--out", help="Directory to write the NeuronSet artifact to."),
    data: Optional[Path] = typer.Option(None, "--data", help="JSONL of {text, lang} or parallel {ko, en} lines (default: bundled sentences)."),
    dtype: str = typer.Option("auto", "--dtype", help="Model dtype: auto, fp32, bf16, fp16."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: cuda if present)."),
    **kwargs,
) -> None:
    """Find the neurons that carry --target (vs --reference) and write neurons.json + neurons.safetensors."""
    from kolang.data.discovery import load_discovery
    from kolang.models import load_model, set_threads
    from kolang.neurons.discover import cap_per_language, discover

    cfg = from_kwargs(DiscoverConfig, kwargs)
    set_threads()
    texts, langs = load_discovery(data) if data is not None else bundled_discovery_texts()
    hf, tok = load_model(model, dtype=dtype, device=device)
    n = len(cap_per_language(texts, langs, cfg.max_texts)[0])
    console.print(f"discover: {cfg.method} for '{cfg.target}' vs {', '.join(cfg.reference)} on {n} texts")
    with reading("reading", n) as update:
        ns = discover(hf, tok, texts, langs, cfg, progress=update)
    ns.save(out)
    counts = ns.counts()
    console.print(f"selected {len(ns)} neurons in {len(counts)} layers "
                  f"({', '.join(f'{k}:{v}' for k, v in sorted(counts.items()))}) → {out}")


_discover.__signature__ = inspect.Signature(  # options generated from DiscoverConfig
    [p for p in inspect.signature(_discover).parameters.values() if p.kind != p.VAR_KEYWORD] + cli_options(DiscoverConfig)
)
app.command("discover")(_discover)
