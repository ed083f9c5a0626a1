"""`kolang report`: one self-contained HTML page of every artifact found under a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kolang.analysis.artifacts import artifact_names, find_artifacts, is_report
from kolang.cli._common import load_arg, model_arg, quiet_libraries, say
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.errors import OutputError, RunDirError
from kolang.io import check_writable
from kolang.loading import LoadConfig


@command("report", LoadConfig)
def _report(
    run_dir: Path = typer.Argument(..., help="Run folder (searched recursively for kolang artifacts)."),
    out: Optional[Path] = typer.Option(None, "--out", help="HTML file to write (default: RUN_DIR/report.html)."),
    model: Optional[str] = typer.Option(None, "--model", help="Also run the logit lens and language probes on this "
                                        "model (a folder or hub id), saved under RUN_DIR/analysis/ and shown in the "
                                        "report."),
    prompts: int = typer.Option(16, "--prompts", min=1, help="Korean prompts for the logit lens (with --model)."),
    top_k: int = typer.Option(10, "--top-k", min=1, help="Top tokens per layer read by the logit lens (with --model)."),
    texts: int = typer.Option(120, "--texts", min=2, help="Bundled sentences per language for the probes (with --model)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda … (default: cuda if present)."),
    **kwargs,
) -> None:
    """Write report.html: neuron sets, ablation, logit lens, probes, training and RL curves, drift, experiments."""
    load = load_arg(from_kwargs(LoadConfig, kwargs), device)
    if not run_dir.is_dir():
        raise RunDirError(f"run folder {run_dir} does not exist" if not run_dir.exists() else
                          f"{run_dir} is a file; give the run folder")
    if out is not None:
        check_writable(out, "--out", file=True)
    target = out if out is not None else run_dir / "report.html"
    if target.exists() and not is_report(target):
        raise OutputError(f"{target} exists and is not a kolang report; it is left untouched (choose another --out)")
    source = model_arg(model, load.revision) if model is not None else None
    if model is None and not any(find_artifacts(run_dir).values()):
        raise RunDirError(f"no kolang artifacts under {run_dir} ({artifact_names()}); pass a run folder or --model")
    say(f"report: {run_dir}" + (f", with the logit lens and probes of {source}" if source is not None else ""))
    from kolang.analysis.report import write_report

    if source is not None:
        quiet_libraries()
        from kolang.analysis.logit_lens import korean_prompts, logit_lens
        from kolang.analysis.probes import language_probes
        from kolang.cli.discover import bundled_discovery_texts
        from kolang.io import atomic_write_json
        from kolang.models import load_model, set_threads

        set_threads()
        hf, tok = load_model(source, device=device, **load.load_kwargs())
        say(f"logit lens on {prompts} Korean prompts, probes on {texts} sentences a language")
        atomic_write_json(run_dir / "analysis" / "logit_lens.json", logit_lens(hf, tok, korean_prompts(tok, prompts), k=top_k))
        ko_en, langs = bundled_discovery_texts(texts)
        atomic_write_json(run_dir / "analysis" / "probes.json", language_probes(hf, tok, ko_en, langs))
    found = {kind: len(paths) for kind, paths in find_artifacts(run_dir).items() if paths}
    if not found:
        raise RunDirError(f"no kolang artifacts under {run_dir} ({artifact_names()}); pass a run folder or --model")
    path = write_report(run_dir, out)
    say("report: " + ", ".join(f"{n} {kind}" for kind, n in found.items()) + f" → {path}")
