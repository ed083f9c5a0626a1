"""Write the README's result tables from the files the code wrote, so no number in it is typed by hand.

Each block of README.md between `<!-- results:NAME -->` and `<!-- /results:NAME -->` is the output of
the renderer NAME below, reading a committed results file (the shipped organism's card.json,
results/demo/summary.json, results/experiment/experiment.json, results/benchmarks/*.json).

    python scripts/readme.py          # rewrite the blocks
    python scripts/readme.py --check  # exit 1 when a block is out of date (the tests run this)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "results"
BLOCK = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)

Renderer = Callable[[], str]
RENDERERS: dict[str, Renderer] = {}


def renderer(name: str) -> Callable[[Renderer], Renderer]:
    """Register a function as the renderer of README block `name`."""
    def register(fn: Renderer) -> Renderer:
        RENDERERS[name] = fn
        return fn
    return register


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def fmt(x: object, digits: int = 3) -> str:
    """A number as the tables print it; None as an em dash."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def interval(v: dict | float | None, digits: int = 3) -> str:
    """`0.512 [0.47, 0.55]` from an `{"value", "low", "high"}` interval (or a plain number)."""
    if isinstance(v, dict):
        return f"{fmt(v.get('value'), digits)} [{fmt(v.get('low'), digits)}, {fmt(v.get('high'), digits)}]"
    return fmt(v, digits)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def render(text: str) -> str:
    """`text` with every results block replaced by its renderer's output."""
    def one(m: re.Match) -> str:
        name = m.group("name")
        if name not in RENDERERS:
            raise SystemExit(f"README block '{name}' has no renderer in scripts/readme.py")
        return m.group(1) + RENDERERS[name]() + m.group(4)

    return BLOCK.sub(one, text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if README.md is not what the results files say")
    args = p.parse_args()
    text = README.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print("README.md is out of date with the results files; run `python scripts/readme.py`", file=sys.stderr)
            sys.exit(1)
        return
    README.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
