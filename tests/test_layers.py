"""The import layering of pyproject.toml's import-linter contract holds: no stage imports upward.

import-linter reads the package from its folder on disk, and kolang maps its stages from top-level
folders into one namespace (`package-dir`), so the sources are first laid out as an installed
copy would hold them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installed_layout(dest: Path) -> Path:
    """Copy every package's modules to where an installed `kolang` keeps them; returns `dest`."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapping = setup["package-dir"]
    for package in setup["packages"]:
        parts = package.split(".")
        # the longest mapped prefix decides the source folder (kolang.neurons.select -> neurons/select)
        for n in range(len(parts), 0, -1):
            prefix = ".".join(parts[:n])
            if prefix in mapping:
                src = ROOT / mapping[prefix] / Path(*parts[n:])
                break
        target = dest / Path(*parts)
        target.mkdir(parents=True, exist_ok=True)
        for f in src.glob("*.py"):
            shutil.copy2(f, target / f.name)
    return dest


def test_no_module_imports_a_layer_above_it(tmp_path):
    src = installed_layout(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(src)}
    lint = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"]
    proc = subprocess.run([*lint, str(ROOT / "pyproject.toml"), "--no-cache"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout
