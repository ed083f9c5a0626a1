"""`kolang demo`: the whole pipeline on the model organism, in one output folder."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kolang.cli._common import console, layers_arg, pipeline_out, progress, quiet_libraries, say
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

    from kolang.analysis.report import row_interval
    from kolang.models import set_threads
    from kolang.pipeline.demo import run_demo

    set_threads()
    report = run_demo(out, cfg, fresh=fresh, say=say, show=progress)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    table = Table(title="held-out word problems by model and prompt language: greedy accuracy, avg@4 and the Korean "
                        "share of the reasoning at temperature 1; 95% intervals over problems")
    # one line a row in an 80-column terminal: the model and its prompts' language share a column
    for col in ("model", "greedy", "avg@4", "ko share, T=1"):
        table.add_column(col, justify="right", no_wrap=True)
    for row in summary["evaluations"]:
        for lang in ("ko", "en"):
            table.add_row(f"{row['model']} {lang}", *[row_interval(row, f"{lang}_{key}", bound_digits=2) for key in
                                                      ("accuracy", "sampled_accuracy", "sampled_korean_share")])
    console.print(table)
    failed = [c["check"] for c in summary["checks"].values() if not c["passed"]]
    if failed:
        say(f"[bold red]{len(failed)} of {len(summary['checks'])} checks FAILED: {'; '.join(failed)} (see the report)")
    else:
        say(f"[green]all {len(summary['checks'])} checks passed")
    say(f"report: {report.resolve()}")
