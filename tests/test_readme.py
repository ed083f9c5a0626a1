"""The README's result tables are what the committed results files say (scripts/readme.py writes them)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_are_generated_from_the_results_files(readme_script):
    script = readme_script
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.render(text) == text, "README.md is out of date: run `python scripts/readme.py`"


def test_every_block_has_a_renderer(readme_script):
    script = readme_script
    names = {m.group("name") for m in script.BLOCK.finditer((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert names <= set(script.RENDERERS)
