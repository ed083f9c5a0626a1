"""The README's result tables are what the committed results files say (scripts/readme.py writes them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("readme_script", ROOT / "scripts" / "readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_tables_are_generated_from_the_results_files():
    script = load_script()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.render(text) == text, "README.md is out of date: run `python scripts/readme.py`"


def test_every_block_has_a_renderer():
    script = load_script()
    names = {m.group("name") for m in script.BLOCK.finditer((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert names <= set(script.RENDERERS)
