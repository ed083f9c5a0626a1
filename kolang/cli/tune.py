"""`kolang tune`: masked SFT of a model's selected neurons (or a comparator) into a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kolang.cli._common import (
    MODEL_HELP,
    progress,
    quiet_libraries,
    resumable,
    run_args,
    say,
)
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.tuning.config import TuneConfig


@command("tune", TuneConfig)
def _tune(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    data: Path = typer.Option(..., "--data", help='JSONL of {"prompt", "completion"} or chat {"messages"} records.'),
    out: Path = typer.Option(..., "--out", help="Run folder to create (or continue with --resume)."),
    neurons: Optional[Path] = typer.Option(None, "--neurons", help="NeuronSet folder from `kolang discover`."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    **kwargs,
) -> None:
    """Fine-tune only the selected neurons of --layers (or a lora/full/random comparator) on SFT data."""
    cfg = from_kwargs(TuneConfig, {**kwargs, "model": model, "data": str(data), "out": str(out),
                                   "neurons": str(neurons) if neurons else None})
    source = run_args("tune", cfg, model, data, neurons, out, resume)
    say(f"tune: adapter {cfg.adapter}, layers {cfg.layers or 'the first quarter'}, {cfg.steps} steps of {source} "
        f"→ {out}")
    quiet_libraries()
    from kolang.models import set_threads
    from kolang.tuning.sft import tune

    set_threads()
    with resumable("tune", out), progress("training", cfg.steps) as update:
        summary = tune(cfg, resume=resume, progress=lambda step, loss: update(step, f"loss {loss:.4f}"))
    if summary.get("note"):
        say(summary["note"])
    if summary["skipped_too_long"]:
        say(f"skipped {summary['skipped_too_long']} samples longer than --max-length {cfg.max_length}")
    say(f"trained {summary['trainable_params']:,} parameters in layers {summary['layers']}; "
        f"final loss {summary['final_loss']:.4f}; adapter → {summary['adapter']}"
        + (f"; merged model → {summary['merged']}" if "merged" in summary else ""))
