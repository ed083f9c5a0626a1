"""`kolang organism`: train (once) and describe the bundled model organism."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kolang.cli import app
from kolang.cli._common import console
from kolang.errors import ConfigError


@app.command("organism")
def organism(
    size: str = typer.Option("full", "--size", help="full (minutes on a CPU) or micro (seconds, for tests)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder (default: $KOLANG_CACHE or ~/.cache/kolang)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, the initialisation and the training order."),
    force: bool = typer.Option(False, "--force", help="Retrain even when a valid organism is cached."),
) -> None:
    """Build the model organism (cached after the first run) and print its card's measurements."""
    from kolang.organism.config import SIZES

    if size not in SIZES:
        raise ConfigError(f"unknown --size '{size}'; use one of {', '.join(SIZES)}")
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if cache is not None and cache.exists() and not cache.is_dir():
        raise ConfigError(f"--cache {cache} is a file; pass a folder")
    from kolang.organism.cache import is_valid, organism_dir, read_card

    target = organism_dir(size, cache, seed)
    cached = is_valid(target, size) and not force
    console.print(f"organism: {'cached at' if cached else 'training into'} {target}")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kolang.pipeline.organism import build

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        tasks: dict[str, int] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        path = build(size, cache, seed, force=force, progress=update)
    print_card(read_card(path))
    console.print(f"model directory: {path}")


def print_card(card: dict) -> None:
    """The card's accuracy and Korean-share figures as one table."""
    from rich.table import Table

    t = card.get("training", {})
    console.print(f"{card['size']} organism v{card['version']}: {card['parameters']:,} parameters, seed {card['seed']}, "
                  f"{card['threads']} threads, trained {t.get('train_seconds', '?')} s (loss {t.get('final_loss', '?')})")
    meas = card.get("measurements", {})
    levels = sorted({lv for m in meas.values() for lv in m["accuracy_by_level"]})
    table = Table(title="held-out word problems")
    for col in ["prompts", "acc", *[f"L{lv}" for lv in levels], "ko share", "mostly ko"]:
        table.add_column(col, justify="right", no_wrap=True)
    for key, m in meas.items():
        table.add_row(key.replace("_prompts_", "/"), f"{m['accuracy']:.2f}",
                      *[f"{m['accuracy_by_level'].get(lv, float('nan')):.2f}" for lv in levels],
                      f"{m['korean_share']:.2f}", f"{m['mostly_korean']:.2f}")
    console.print(table)
    kn = card.get("korean_neurons")
    if kn:
        pairs = list(kn["reasoning_nll"])
        table = Table(title=f"reasoning NLL rise when ablating its {kn['neurons']} Korean neurons ({kn['method']})")
        for col in ["ablated", *pairs]:
            table.add_column(col, justify="right", no_wrap=True)
        table.add_row("none (NLL)", *[f"{kn['reasoning_nll'][k]:.3f}" for k in pairs])
        table.add_row("Korean set", *[f"{kn['delta_ablated'][k]:+.3f}" for k in pairs])
        for i, r in enumerate(kn["delta_random"]):
            table.add_row(f"random {i}", *[f"{r[k]:+.3f}" for k in pairs])
        console.print(table)
