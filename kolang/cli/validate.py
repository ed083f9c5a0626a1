"""`kolang validate`: ablate a neuron set and a matched random set; NLL and perplexity per language."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kolang.cli import app
from kolang.cli._progress import console


@app.command("validate")
def _validate(
    model: Path = typer.Option(..., "--model", help="Hugging Face model directory."),
    neurons: Path = typer.Option(..., "--neurons", help="NeuronSet directory written by `kolang discover`."),
    out: Path = typer.Option(..., "--out", help="Directory for validation.json and validation.html."),
    data: Optional[Path] = typer.Option(None, "--data", help="JSONL of {text, lang} or parallel lines (default: bundled sentences)."),
    n_random: int = typer.Option(3, "--n-random", help="Random matched control sets to ablate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first random control set."),
    max_texts: Optional[int] = typer.Option(None, "--max-texts", help="At most this many texts per language."),
    max_length: int = typer.Option(512, "--max-length", help="Truncate each text to this many tokens."),
    dtype: str = typer.Option("auto", "--dtype", help="Model dtype: auto, fp32, bf16, fp16."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda … (default: cuda if present)."),
) -> None:
    """Show causally that a neuron set carries its language: NLL per language with it ablated vs a random set."""
    from rich.table import Table

    from kolang.analysis.plots import validation_figure
    from kolang.analysis.validate import validate
    from kolang.cli.discover import bundled_discovery_texts
    from kolang.data.discovery import load_discovery
    from kolang.io import atomic_dir, atomic_write_json, atomic_write_text
    from kolang.models import load_model, set_threads
    from kolang.neurons.discover import cap_per_language
    from kolang.neurons.neuronset import NeuronSet

    set_threads()
    ns = NeuronSet.load(neurons)
    texts, langs = load_discovery(data) if data is not None else bundled_discovery_texts()
    texts, langs = cap_per_language(texts, langs, max_texts)
    hf, tok = load_model(model, dtype=dtype, device=device)
    ns.check(hf)
    console.print(f"validate: ablating {len(ns)} neurons and {n_random} matched random sets on {len(texts)} texts")
    result = validate(hf, tok, ns, texts, langs, n_random=n_random, seed=seed, max_length=max_length)
    with atomic_dir(out) as tmp:
        atomic_write_json(tmp / "validation.json", result)
        atomic_write_text(tmp / "validation.html", validation_figure(result).to_html(include_plotlyjs=True, full_html=True))
    table = Table(title="NLL per language (nats/token)")
    table.add_column("language")
    for col in ("none", "ablate set", "Δ set", "Δ random (mean)"):
        table.add_column(col, justify="right")
    base, hit, d = result["conditions"]["none"], result["conditions"]["ablate_set"], result["delta_nll"]
    for lang in sorted(base):
        table.add_row(lang, f"{base[lang]['nll']:.4f}", f"{hit[lang]['nll']:.4f}", f"{d['set'][lang]:+.4f}",
                      f"{d['random_mean'][lang]:+.4f}")
    console.print(table)
    if result["verdict"]:
        v = result["verdict"]
        console.print(f"target '{v['target']}' hit hardest: {v['target_more_than_references']}; "
                      f"more than random: {v['target_more_than_random']}; selectivity {v['selectivity']:+.4f}")
    console.print(f"wrote {out / 'validation.json'} and {out / 'validation.html'}")
