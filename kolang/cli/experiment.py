"""`kolang experiment`: the seed comparison (which pre-RL tuning unlocks Korean reasoning) as a table."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kolang.cli._common import console, layers_arg, pipeline_out, quiet_libraries, say
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.pipeline.config import COLUMNS, EXPERIMENT_WRITES, ExperimentConfig


@command("experiment", ExperimentConfig)
def _experiment(
    out: Path = typer.Option(Path("kolang-experiment"), "--out", help="Folder for every run and experiment.json."),
    fresh: bool = typer.Option(False, "--fresh", help="Redo every run instead of reusing finished ones (deletes only "
                               "what an earlier experiment wrote in --out)."),
    quick: bool = typer.Option(False, "--quick", help="One seed, at most 60 tuning and 40 GRPO steps, 100 problems a "
                               "language, no sweep: a look at every arm, not the result."),
    **kwargs,
) -> None:
    """RL only vs Korean early-layer neurons / random / LoRA / full / late-layer neurons, each followed by GRPO.

    Resumable run by run. Started again with the same options and --out while one runs (one a GPU, or one a
    few cores), a second process shares the work: each takes the next run nobody has started.
    """
    cfg = from_kwargs(ExperimentConfig, kwargs)
    cfg = cfg.quick() if quick else cfg
    layers_arg(cfg.early, "--early")
    layers_arg(cfg.late, "--late")
    pipeline_out(out, EXPERIMENT_WRITES)
    sweep = f"; Korean->Korean sweep over {', '.join(f'{x:g}' for x in cfg.sweep)}" if cfg.sweep else ""
    say(f"experiment: {len(cfg.arms)} arms x {len(cfg.seeds)} seeds on the {cfg.size} organism{sweep} → {out}")
    quiet_libraries()
    from rich.table import Table

    from kolang.analysis.report import write_report
    from kolang.models import set_threads
    from kolang.pipeline.experiment import run_experiment

    set_threads()
    path = run_experiment(out, cfg, fresh=fresh, say=say)
    data = json.loads(path.read_text(encoding="utf-8"))
    table = Table(title=data["title"])
    table.add_column("arm")
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for row in data["rows"]:
        table.add_row(row["arm"], *[str(row[c]) for c in COLUMNS])
    console.print(table)
    if data.get("sweep"):
        console.print(sweep_table(data["sweep"]))
    say(f"table: {path}\nreport: {write_report(out, title='kolang experiment').resolve()}")


def sweep_table(points: list[dict]):
    """The sweep as a rich table: one row per organism variant and arm, final Korean accuracy and share with intervals."""
    from rich.table import Table

    from kolang.analysis.report import interval_text, row_interval

    t = Table(title="Korean->Korean share in training vs what RL reaches (avg@4 on Korean prompts, 95% intervals)")
    for col in ("ko->ko in training", "inherent Korean share", "arm", "Korean accuracy", "Korean share"):
        t.add_column(col, justify="right")
    for p in points:
        for arm, r in p["arms"].items():
            t.add_row(f"{p['ko_ko']:g}", row_interval(p, "inherent_korean_share"), arm,
                      interval_text(r["ko_sampled_accuracy"]), interval_text(r["ko_sampled_korean_share"]))
    return t
