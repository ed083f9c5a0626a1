"""The artifacts kolang writes, recognised by file name, and the mark every report carries; free of
torch, so the command line can check a folder before loading anything."""

from __future__ import annotations

import os
from pathlib import Path

from kolang.errors import RunDirError

# File name -> artifact kind; each kind has one section renderer in report.py.
ARTIFACTS = {
    "summary.json": "summary",
    "neurons.json": "neurons",
    "validation.json": "validation",
    "logit_lens.json": "logit_lens",
    "probes.json": "probes",
    "metrics.jsonl": "metrics",
    "drift.jsonl": "drift",
    "experiment.json": "experiment",
    "eval.json": "eval",
}

# Every report.html carries this tag in its head: an existing file is replaced only when it has it.
REPORT_MARK = '<meta name="generator" content="kolang report">'


def find_artifacts(root: str | Path) -> dict[str, list[Path]]:
    """Every known artifact under `root` (hidden and temporary folders skipped), by kind, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise RunDirError(f"run directory {root} does not exist or is not a directory")
    found: dict[str, list[Path]] = {kind: [] for kind in ARTIFACTS.values()}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # atomic writes stage in ".name.tmp"
        for name in filenames:
            if name in ARTIFACTS:
                found[ARTIFACTS[name]].append(Path(dirpath) / name)
    return {kind: sorted(paths) for kind, paths in found.items()}


def is_report(path: Path) -> bool:
    """True when `path` is a report kolang wrote (its head carries `REPORT_MARK`)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return REPORT_MARK in f.read(4096)
    except OSError:
        return False


def artifact_names() -> str:
    """The artifact file names, for messages that say what was looked for."""
    return ", ".join(ARTIFACTS)
