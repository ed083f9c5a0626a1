"""`kolang experiment`: the seed comparison (which pre-RL tuning unlocks Korean reasoning) as a table."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kolang.cli._common import console, layers_arg, pipeline_out, progress, quiet_libraries, say
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.pipeline.config import EXPERIMENT_WRITES, ExperimentConfig


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
    from kolang.analysis.report import write_report
    from kolang.models import set_threads
    from kolang.pipeline.experiment import run_experiment

    set_threads()
    path = run_experiment(out, cfg, fresh=fresh, say=say, show=progress)
    data = json.loads(path.read_text(encoding="utf-8"))
    console.print(arms_table(data))
    if data.get("sweep"):
        console.print(sweep_table(data["sweep"]))
    say(f"table: {path}\nreport: {write_report(out, title='kolang experiment').resolve()}")


# (row key, header) of the terminal table: means over seeds, short enough for 80 columns (± sd is in the file)
TERMINAL_COLUMNS = (("tuned_ko_accuracy", "ko\nacc\ntuned"), ("ko_accuracy", "ko\nacc"),
                    ("ko_korean_share", "ko\nshare"), ("en_accuracy", "en\nacc"), ("final_iou", "set\nIoU"))


def arms_table(data: dict):
    """The arms as a rich table that fits 80 columns: each column's mean over seeds (greedy, held-out problems;
    after tuning, and after RL)."""
    from rich.table import Table

    seeds = max((r["seeds"] for r in data["rows"]), default=0)
    t = Table(title=data["title"], caption=f"means over {seeds} seed(s); mean ± sd of every column, and the paired "
                                           "comparisons, are in experiment.json and the report")
    t.add_column("arm", overflow="fold")
    for _, header in TERMINAL_COLUMNS:
        t.add_column(header, justify="right", no_wrap=True)
    for row in data["rows"]:
        cells = [row.get(f"{key}_mean") for key, _ in TERMINAL_COLUMNS]
        t.add_row(row["arm"], *["—" if v is None else f"{v:.2f}" for v in cells])
    return t


def sweep_table(points: list[dict]):
    """The sweep as two rich tables that fit 80 columns: each organism variant's inherent Korean share, then one row
    per variant and arm, final Korean accuracy and share (avg@4 on Korean prompts) with 95% intervals."""
    from rich.console import Group
    from rich.table import Table

    from kolang.analysis.report import interval_text, row_interval

    organisms = Table(title="Korean->Korean sweep: the organisms (sampled, held-out Korean prompts, 95% intervals)")
    for col in ("ko->ko in training", "inherent Korean share", "base Korean avg@4"):
        organisms.add_column(col, justify="right", no_wrap=True)
    runs = Table(title="what RL reaches on each (avg@4 on Korean prompts, pooled over seeds, 95% intervals)")
    runs.add_column("ko->ko", justify="right", no_wrap=True)
    runs.add_column("arm", overflow="fold")  # a long arm name folds onto a second line; the figures never do
    for col in ("Korean accuracy", "Korean share"):
        runs.add_column(col, justify="right", no_wrap=True)
    for p in points:
        base = p.get("base_ko_sampled_accuracy")
        organisms.add_row(f"{p['ko_ko']:g}", row_interval(p, "inherent_korean_share", bound_digits=2, digits=2), "—" if base is None else f"{base:.2f}")
        for arm, r in p["arms"].items():
            runs.add_row(f"{p['ko_ko']:g}", arm, interval_text(r["ko_sampled_accuracy"], 2),
                         interval_text(r["ko_sampled_korean_share"], 2))
    return Group(organisms, runs)
