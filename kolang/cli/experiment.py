"""`kolang experiment`: the seed comparison (which pre-RL tuning unlocks Korean reasoning) as a table."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import typer

from kolang.cli import app
from kolang.cli._progress import console
from kolang.cli.options import cli_options
from kolang.config import from_kwargs
from kolang.pipeline.config import COLUMNS, ExperimentConfig


def _experiment(
    out: Path = typer.Option(Path("kolang-experiment"), "--out", help="Folder for every run and experiment.json."),
    fresh: bool = typer.Option(False, "--fresh", help="Redo every run instead of reusing finished ones."),
    **kwargs,
) -> None:
    """RL only vs Korean early-layer neurons / random / LoRA / full / late-layer neurons, each followed by GRPO."""
    from rich.table import Table

    from kolang.pipeline.experiment import run_experiment
    from kolang.models import set_threads

    cfg = from_kwargs(ExperimentConfig, kwargs)
    set_threads()
    path = run_experiment(out, cfg, fresh=fresh, say=console.print)
    data = json.loads(path.read_text())
    table = Table(title=data["title"])
    table.add_column("arm")
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for row in data["rows"]:
        table.add_row(row["arm"], *[str(row[c]) for c in COLUMNS])
    console.print(table)
    from kolang.analysis.report import write_report

    console.print(f"table: {path}\nreport: {write_report(out, title='kolang experiment').resolve()}")


_experiment.__signature__ = inspect.Signature(  # options generated from ExperimentConfig
    [p for p in inspect.signature(_experiment).parameters.values() if p.kind != p.VAR_KEYWORD]
    + cli_options(ExperimentConfig)
)
app.command("experiment")(_experiment)
