"""`kolang report`: one self-contained HTML page of every artifact found under a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kolang.cli import app
from kolang.cli._progress import console


@app.command("report")
def _report(
    run_dir: Path = typer.Argument(..., help="Run folder (searched recursively for kolang artifacts)."),
    out: Optional[Path] = typer.Option(None, "--out", help="HTML file to write (default: RUN_DIR/report.html)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Also run the logit lens and language probes on this "
                                         "model directory, saved under RUN_DIR/analysis/ and shown in the report."),
    prompts: int = typer.Option(16, "--prompts", help="Korean prompts for the logit lens (with --model)."),
    top_k: int = typer.Option(10, "--top-k", help="Top tokens per layer read by the logit lens (with --model)."),
    texts: int = typer.Option(120, "--texts", help="Bundled sentences per language for the probes (with --model)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda … (default: cuda if present)."),
) -> None:
    """Write report.html: neuron sets, ablation, logit lens, probes, training and RL curves, drift, experiments."""
    from kolang.analysis.report import find_artifacts, write_report
    from kolang.errors import RunDirError
    from kolang.io import atomic_write_json

    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist")
    if model is not None:
        from kolang.analysis.logit_lens import korean_prompts, logit_lens
        from kolang.analysis.probes import language_probes
        from kolang.cli.discover import bundled_discovery_texts
        from kolang.models import load_model, set_threads

        set_threads()
        hf, tok = load_model(model, device=device)
        console.print(f"report: logit lens on {prompts} Korean prompts, probes on {texts} sentences a language")
        atomic_write_json(run_dir / "analysis" / "logit_lens.json", logit_lens(hf, tok, korean_prompts(tok, prompts), k=top_k))
        ko_en, langs = bundled_discovery_texts(texts)
        atomic_write_json(run_dir / "analysis" / "probes.json", language_probes(hf, tok, ko_en, langs))
    found = {kind: len(paths) for kind, paths in find_artifacts(run_dir).items() if paths}
    if not found:
        raise RunDirError(f"no kolang artifacts under {run_dir} (neurons.json, validation.json, metrics.jsonl, "
                          "drift.jsonl, logit_lens.json, probes.json, experiment.json); pass a run folder or --model")
    path = write_report(run_dir, out)
    console.print("report: " + ", ".join(f"{n} {kind}" for kind, n in found.items()) + f" → {path}")
