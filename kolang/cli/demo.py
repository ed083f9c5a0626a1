"""`kolang demo`: the whole pipeline on the model organism, in one output folder."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kolang.cli._common import console, layers_arg, pipeline_out, quiet_libraries, say
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.errors import ConfigError
from kolang.layers import parse_layers
from kolang.pipeline.config import DEMO_WRITES, DemoConfig


@command("demo", DemoConfig)
def _demo(
    out: Path = typer.Option(Path("kolang-demo"), "--out", help="Folder for every artifact of the run."),
    fresh: bool = typer.Option(False, "--fresh", help="Redo every stage instead of reusing finished ones (deletes only "
                               "what an earlier demo wrote in --out)."),
    **kwargs,
) -> None:
    """Organism → discover → validate → tune Korean neurons → GRPO with drift → report.html."""
    cfg = from_kwargs(DemoConfig, kwargs)
    layers_arg(cfg.layers)
    from kolang.organism.config import get_config

    try:
        parse_layers(cfg.layers, get_config(cfg.size).num_layers)
    except ConfigError as e:
        raise ConfigError(f"--layers: {e}") from None
    pipeline_out(out, DEMO_WRITES)
    say(f"demo: the whole pipeline on the {cfg.size} organism → {out}")
    quiet_libraries()
    from rich.table import Table

    from kolang.models import set_threads
    from kolang.pipeline.demo import run_demo

    set_threads()
    report = run_demo(out, cfg, fresh=fresh, say=say)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    table = Table(title="held-out word problems (greedy)")
    for col in ("model", "ko accuracy", "ko: Korean reasoning share", "en accuracy"):
        table.add_column(col, justify="right")
    for row in summary["evaluations"]:
        table.add_row(row["model"], f"{row['ko_accuracy']:.3f}", f"{row['ko_korean_share']:.3f}", f"{row['en_accuracy']:.3f}")
    console.print(table)
    say(f"report: {report.resolve()}")
