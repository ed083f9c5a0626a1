"""`kolang demo`: the whole pipeline on the model organism, in one output folder."""

from __future__ import annotations

import inspect
from pathlib import Path

import typer

from kolang.cli import app
from kolang.cli._progress import console
from kolang.cli.options import cli_options
from kolang.config import from_kwargs
from kolang.pipeline.config import DemoConfig


def _demo(
    out: Path = typer.Option(Path("kolang-demo"), "--out", help="Folder for every artifact of the run."),
    fresh: bool = typer.Option(False, "--fresh", help="Redo every stage instead of reusing finished ones."),
    **kwargs,
) -> None:
    """Organism → discover → validate → tune Korean neurons → GRPO with drift → report.html."""
    from rich.table import Table

    from kolang.pipeline.demo import run_demo
    from kolang.models import set_threads

    cfg = from_kwargs(DemoConfig, kwargs)
    set_threads()
    report = run_demo(out, cfg, fresh=fresh, say=console.print)
    import json

    summary = json.loads((out / "summary.json").read_text())
    table = Table(title="held-out word problems (greedy)")
    for col in ("model", "ko accuracy", "ko: Korean reasoning share", "en accuracy"):
        table.add_column(col, justify="right")
    for row in summary["evaluations"]:
        table.add_row(row["model"], f"{row['ko_accuracy']:.3f}", f"{row['ko_korean_share']:.3f}", f"{row['en_accuracy']:.3f}")
    console.print(table)
    console.print(f"report: {report.resolve()}")


_demo.__signature__ = inspect.Signature(  # options generated from DemoConfig
    [p for p in inspect.signature(_demo).parameters.values() if p.kind != p.VAR_KEYWORD] + cli_options(DemoConfig)
)
app.command("demo")(_demo)
