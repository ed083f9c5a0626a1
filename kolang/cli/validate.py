"""`kolang validate`: ablate a neuron set and layer-matched random sets; NLL and perplexity per language."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kolang.analysis.config import VALIDATION_FILES, ValidateConfig
from kolang.cli._common import (
    DATA_HELP,
    MODEL_HELP,
    console,
    corpus_arg,
    load_arg,
    model_arg,
    neurons_arg,
    out_arg,
    quiet_libraries,
    say,
)
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.data.discovery import CorpusConfig, load_discovery, load_with_contexts
from kolang.errors import ConfigError
from kolang.loading import LoadConfig


@command("validate", ValidateConfig, LoadConfig, CorpusConfig)
def _validate(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    neurons: Path = typer.Option(..., "--neurons", help="NeuronSet folder written by `kolang discover`."),
    out: Path = typer.Option(..., "--out", help="Folder for validation.json and validation.html."),
    data: Optional[list[str]] = typer.Option(None, "--data", help=DATA_HELP),
    dtype: str = typer.Option("auto", "--dtype", help="Model dtype: auto, fp32, bf16, fp16."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda … (default: cuda if present)."),
    **kwargs,
) -> None:
    """Show causally that a neuron set carries its language: NLL per language with it ablated vs random sets."""
    cfg = from_kwargs(ValidateConfig, kwargs)
    load = load_arg(from_kwargs(LoadConfig, kwargs), device)
    corpus = from_kwargs(CorpusConfig, kwargs)
    source = model_arg(model, load.revision)
    neurons_arg(neurons)
    out_arg(out, VALIDATION_FILES)
    corpus_arg(data, corpus)
    if cfg.context_field and not data:
        raise ConfigError(f"--context-field '{cfg.context_field}' names a column of --data records; give --data")
    say(f"validate: ablating {neurons} and {cfg.n_random} layer-matched random sets in {source} → {out}")
    quiet_libraries()
    from rich.table import Table

    from kolang.cli.discover import bundled_discovery_texts
    from kolang.models import load_model, set_threads
    from kolang.neurons.discover import cap_per_language
    from kolang.neurons.neuronset import NeuronSet
    from kolang.pipeline.stages import validate_dir

    set_threads()
    ns = NeuronSet.load(neurons)
    contexts = None
    if cfg.context_field:
        texts, langs, contexts = load_with_contexts(data, cfg.context_field, corpus, cfg.max_texts)
        keep = cap_per_language(list(range(len(texts))), langs, cfg.max_texts)[0]
        texts, langs, contexts = ([xs[i] for i in keep] for xs in (texts, langs, contexts))
    else:
        texts, langs = load_discovery(data, corpus, cfg.max_texts) if data else bundled_discovery_texts()
        texts, langs = cap_per_language(texts, langs, cfg.max_texts)
    hf, tok = load_model(source, dtype=dtype, device=device, **load.load_kwargs())
    ns.check(hf)  # refuses another shape; other weights of this shape are noted
    say(f"{len(ns)} neurons, {len(texts)} texts in {', '.join(sorted(set(langs)))}"
        + (f", each scored after its '{cfg.context_field}'" if contexts else ""))
    if contexts is not None:
        from kolang.data.chat import format_prompt

        contexts = [format_prompt(tok, c) for c in contexts]
    result = validate_dir(hf, tok, ns, texts, langs, out, cfg, contexts)
    table = Table(title="NLL per language (nats/token)")
    table.add_column("language")
    for col in ("none", "ablate set", "Δ set", "Δ random (mean)"):
        table.add_column(col, justify="right")
    base, hit, d = result["conditions"]["none"], result["conditions"]["ablate_set"], result["delta_nll"]
    for lang in sorted(base):
        table.add_row(lang, f"{base[lang]['nll']:.4f}", f"{hit[lang]['nll']:.4f}", f"{d['set'][lang]:+.4f}",
                      f"{d['random_mean'][lang]:+.4f}")
    console.print(table)
    from kolang.analysis.validate import verdict_line

    ok, line = verdict_line(result["verdict"])
    say(("[green]" if ok else "[bold red]") + "verdict " + line)
    say(f"wrote {out / 'validation.json'} and {out / 'validation.html'}")
