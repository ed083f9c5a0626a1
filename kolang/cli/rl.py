"""`kolang rl`: GRPO on {prompt, answer, lang} records, rewarding correct answers reasoned in the target language."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import typer

from kolang.cli import app
from kolang.cli._progress import console
from kolang.cli.options import cli_options
from kolang.config import from_kwargs
from kolang.rl.config import RLConfig


def _fmt(v: object) -> str:
    return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _rl(
    model: Path = typer.Option(..., "--model", help="Hugging Face model directory to train."),
    data: Path = typer.Option(..., "--data", help='JSONL of {"prompt", "answer", "lang"} records.'),
    out: Path = typer.Option(..., "--out", help="Run directory to create (or resume with --resume)."),
    neurons: Optional[Path] = typer.Option(None, "--neurons", help="NeuronSet directory (for --trainable neurons)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its latest checkpoint."),
    **kwargs,
) -> None:
    """Train with GRPO: accuracy + language-consistency rewards, difficulty filtering, collapse monitor."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kolang.rl.trainer import GRPOTrainer

    cfg = from_kwargs(RLConfig, {**kwargs, "model": str(model), "data": str(data), "out": str(out),
                                 "neurons": str(neurons) if neurons else None})
    with Progress(TextColumn("[bold]rl"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("rl", total=cfg.steps, info="loading")

        def progress(step: int, m: dict) -> None:
            bar.update(task, completed=step, info=(
                f"reward {_fmt(m.get('reward'))} · acc {_fmt(m.get('accuracy'))} · "
                f"{cfg.target} share {_fmt(m.get('target_share'))} · kept {_fmt(m.get('kept_fraction'))}"))

        trainer = GRPOTrainer(cfg, progress=progress)
        if cfg.neurons and cfg.drift_every > 0:
            from kolang.analysis.config import DriftConfig
            from kolang.rl.drift import attach_neurons

            bar.update(task, info="snapshot for drift")
            attach_neurons(trainer, cfg.neurons, DriftConfig(every=cfg.drift_every))
        bar.update(task, completed=trainer.step, info="sampling")
        summary = trainer.train(resume=resume)
    if summary.get("stopped"):
        console.print(f"[yellow]stopped: {summary['stopped']}")
    console.print(f"rl: {summary['steps']} steps → {summary['run_dir']}"
                  + (f" (model: {summary['model']})" if summary.get("model") else ""))


_rl.__signature__ = inspect.Signature(  # options generated from RLConfig
    [p for p in inspect.signature(_rl).parameters.values() if p.kind != p.VAR_KEYWORD] + cli_options(RLConfig)
)
app.command("rl")(_rl)
