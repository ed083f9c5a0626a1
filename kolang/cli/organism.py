"""`kolang organism`: the bundled model organism: print the shipped one's card, or retrain the recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kolang.cli import app
from kolang.cli._common import console, quiet_libraries, say
from kolang.errors import ConfigError


@app.command("organism")
def organism(
    train: bool = typer.Option(False, "--train", help="Train the recipe from scratch into the cache and print its "
                               "card beside the shipped one's (about 9 min on 2 CPU cores for the full size)."),
    size: str = typer.Option("full", "--size", help="full (the shipped organism) or micro (seconds, for tests)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, the initialisation and the training order."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder for trained organisms (default: "
                                         "$KOLANG_CACHE, else $XDG_CACHE_HOME/kolang, else ~/.cache/kolang)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for training (default: one a core)."),
    ko_ko: Optional[float] = typer.Option(None, "--ko-ko", help="Share of the problems reasoned in Korean after a "
                                          "Korean question (the recipe's: 0), taken from the Korean->English share: "
                                          "a variant of the recipe, kept in the cache beside it."),
) -> None:
    """Print the model organism's card (the shipped one, or train the recipe and compare)."""
    from kolang.organism.config import SIZES, get_config, ships

    if size not in SIZES:
        raise ConfigError(f"unknown --size '{size}'; use one of {', '.join(SIZES)}")
    try:
        cfg = get_config(size, ko_ko)
    except ConfigError as e:
        raise ConfigError(f"--ko-ko: {e}") from None
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if cache is not None and cache.exists() and not cache.is_dir():
        raise ConfigError(f"--cache {cache} is a file; pass a folder")
    from kolang.organism.cache import SHIPPED, is_valid, organism_dir, read_card

    shipped = ships(cfg, seed) and not train and cache is None
    target = SHIPPED if shipped else organism_dir(size, cache, seed, ko_ko)
    cached = shipped or (is_valid(target, size, ko_ko) and not train)
    say(f"organism: {'the shipped one,' if shipped else 'cached at' if cached else 'training into'} {target}")
    quiet_libraries()
    from kolang.cli._common import progress
    from kolang.pipeline.organism import build
    from kolang.pipeline.progress import Phases

    with Phases(progress) as update:
        path = build(size, cache, seed, progress=update, threads=threads, train=train, ko_ko=ko_ko)
    card = read_card(path)
    if train and size == "full" and (SHIPPED / "card.json").is_file():
        print_card(card, read_card(SHIPPED))
    else:
        print_card(card)
    say(f"model folder: {path}")


def print_card(card: dict, shipped: dict | None = None) -> None:
    """The card's accuracy and Korean-share figures as one table (beside the shipped card's when given)."""
    from rich.table import Table

    t = card.get("training", {})
    say(f"{card['size']} organism v{card['version']}: {card['parameters']:,} parameters, seed {card['seed']}, "
        f"{card['threads']} thread{'s' if card['threads'] != 1 else ''}"
        f"{', ' + card['cpu_capability'] + ' kernels' if card.get('cpu_capability') else ''}, "
        f"trained {t.get('train_seconds', '?')} s (loss {t.get('final_loss', '?')})")
    meas = card.get("measurements", {})
    levels = sorted({lv for m in meas.values() for lv in m["accuracy_by_level"]})
    other = (shipped or {}).get("measurements", {})
    table = Table(title="held-out word problems" + (": this build, and the shipped one under it" if other else ""))
    for col in ["prompts", *(["model"] if other else []), "acc", *[f"L{lv}" for lv in levels], "ko share"]:
        table.add_column(col, justify="right", no_wrap=True)

    def figures(m: dict) -> list[str]:
        return [f"{m['accuracy']:.2f}", *[f"{m['accuracy_by_level'].get(lv, float('nan')):.2f}" for lv in levels],
                f"{m['korean_share']:.2f}"]

    for key, m in meas.items():  # one row each (a row the shipped card's beneath it): fits 80 columns
        name = key.replace("_prompts_", "/")
        table.add_row(name, *(["this"] if other else []), *figures(m))
        if key in other:
            table.add_row("", "shipped", *figures(other[key]), style="dim")
    console.print(table)
    halves = {key.replace("_prompts_", "/"): m["accuracy_level4_by_product"] for key, m in meas.items()
              if m.get("accuracy_level4_by_product")}
    if halves:  # level 4 = times-table products (learnable) and three-digit ones (beyond the organism)
        say("level 4 by its product, times table / three-digit: " + "; ".join(
            f"{k} {h.get('times table', float('nan')):.2f} / {h.get('hard', float('nan')):.2f}" for k, h in halves.items()))
    kn = card.get("korean_neurons")
    if kn:
        pairs, drills = list(kn["reasoning_nll"]), sorted(kn.get("drill_nll", {}), reverse=True)  # Korean first
        table = Table(title=f"reasoning and drill NLL rise when ablating its {kn['neurons']} Korean neurons "
                            f"({kn['method']})")
        for col in ["ablated", *pairs, *drills]:
            table.add_column(col, justify="right", no_wrap=True)
        table.add_row("none (NLL)", *[f"{kn['reasoning_nll'][k]:.3f}" for k in pairs],
                      *[f"{kn['drill_nll'][k]:.3f}" for k in drills])
        table.add_row("Korean set", *[f"{kn['delta_ablated'][k]:+.3f}" for k in pairs],
                      *[f"{kn['delta_ablated_drills'][k]:+.3f}" for k in drills])
        for i, r in enumerate(kn["delta_random"]):
            d = kn["delta_random_drills"][i] if drills else {}
            table.add_row(f"random {i}", *[f"{r[k]:+.3f}" for k in pairs], *[f"{d[k]:+.3f}" for k in drills])
        console.print(table)
        moved = (kn.get("interventions") or {}).get("moved_language")
        if moved is not None:
            n = kn["interventions"]["n"]
            say(f"interventions on the set ({n} Korean questions) that move the Korean share of the reasoning outside "
                f"the unedited model's interval: greedy {', '.join(moved['greedy']) or 'none'}; sampled "
                f"{', '.join(moved['sampled']) or 'none'}")
