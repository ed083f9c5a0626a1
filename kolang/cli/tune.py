"""`kolang tune`: masked SFT of a model's selected neurons (or a comparator) into a run directory."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kolang.cli import app
from kolang.cli._progress import console
from kolang.cli.options import cli_options
from kolang.config import from_kwargs
from kolang.tuning.config import TuneConfig


def _tune(
    model: Path = typer.Option(..., "--model", help="Hugging Face model directory to tune."),
    data: Path = typer.Option(..., "--data", help='JSONL of {"prompt", "completion"} or chat {"messages"} records.'),
    out: Path = typer.Option(..., "--out", help="Run directory to create (or resume with --resume)."),
    neurons: Optional[Path] = typer.Option(None, "--neurons", help="NeuronSet directory from `kolang discover`."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    **kwargs,
) -> None:
    """Fine-tune only the selected neurons of --layers (or a lora/full/random comparator) on SFT data."""
    from kolang.models import set_threads
    from kolang.tuning.sft import tune

    cfg = from_kwargs(TuneConfig, {**kwargs, "model": str(model), "data": str(data), "out": str(out),
                                   "neurons": str(neurons) if neurons else None})
    set_threads()
    console.print(f"tune: adapter={cfg.adapter} layers={cfg.layers or 'first quarter'} steps={cfg.steps} → {out}")
    with Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("train", total=cfg.steps, loss="")
        summary = tune(cfg, resume=resume,
                       progress=lambda step, loss: bar.update(task, completed=step, loss=f"loss {loss:.4f}"))
    if summary["skipped_too_long"]:
        console.print(f"skipped {summary['skipped_too_long']} samples longer than --max-length {cfg.max_length}")
    console.print(f"trained {summary['trainable_params']:,} parameters in layers {summary['layers']}; "
                  f"final loss {summary['final_loss']:.4f}; adapter → {summary['adapter']}"
                  + (f"; merged model → {summary['merged']}" if "merged" in summary else ""))


_tune.__signature__ = inspect.Signature(  # options generated from TuneConfig
    [p for p in inspect.signature(_tune).parameters.values() if p.kind != p.VAR_KEYWORD] + cli_options(TuneConfig)
)
app.command("tune")(_tune)
