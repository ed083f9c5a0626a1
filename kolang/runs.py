"""Run folders of `kolang tune` and `kolang rl`: created, refused or resumed by one set of rules.

A run folder's `config.json` names its kind (`"kolang_run": "tune"`), the resolved options and a
digest of the data. A new run goes into a missing or empty folder; a folder that holds anything
else is refused (a model, a home folder, another kind of run), and so is a finished or started run
without `resume`. A run that never completed a step is simply started again. Resuming compares the
options (all but those that may change), the data digest and, for a model named by hub id, the
commit it resolved to, so a resumed run never silently continues on other batches or other weights.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kolang.errors import RunDirError
from kolang.hub import describe, same_source
from kolang.io import atomic_write_json, check_writable, json_text, read_jsonl

CONFIG = "config.json"
METRICS = "metrics.jsonl"


def digest(data: str | Path | Any) -> str:
    """sha256 of a data file's bytes, or of the JSON of in-memory records."""
    h = hashlib.sha256()
    if isinstance(data, (str, Path)):
        with open(data, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    else:
        h.update(json_text(data).encode("utf-8"))
    return h.hexdigest()


def read_run_config(run: Path) -> dict[str, Any]:
    """The parsed `config.json` of a run folder; `RunDirError` when it is unreadable or not a kolang run's."""
    path = run / CONFIG
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunDirError(f"{path} cannot be read ({type(e).__name__}); it is not a kolang run config, or it was cut "
                          "short: choose another --out") from None
    if not isinstance(cfg, dict) or cfg.get("kolang_run") not in ("tune", "rl") or not isinstance(cfg.get("config"), dict):
        raise RunDirError(f"{run} is not a kolang run folder ({CONFIG} is another program's); choose another --out")
    return cfg


@dataclass
class Opened:
    """What `open_run` found: whether a previous run is continued, a note for the user (or None), and the
    config to `commit` once the checkpoint has loaded (so a damaged run folder is left as it was)."""

    resuming: bool
    note: str | None
    path: Path
    resolved: dict[str, Any]

    def commit(self) -> None:
        """Write the run's config.json."""
        atomic_write_json(self.path, self.resolved)


def started(run: Path, checkpoints: Collection[Path]) -> bool:
    """True when the run logged a step or wrote a checkpoint."""
    return bool(checkpoints) or ((run / METRICS).is_file() and bool(read_jsonl(run / METRICS)))


def open_run(run: Path, kind: str, resolved: dict[str, Any], *, resume: bool, checkpoints: Collection[Path],
             may_change: Collection[str] = (), force: bool = False, defaults: dict[str, Any] | None = None) -> Opened:
    """Decide whether `run` starts or resumes a `kind` run with config `resolved`; call `commit()` on the result
    to write its config.json once resuming succeeded.

    `checkpoints` are the run's complete checkpoints (none for a new folder); `may_change` names the
    options a resume may change; `defaults` are the options' defaults, so an option added to kolang
    since the run started reads as unchanged when it keeps its default. Raises `RunDirError` for anything that must not be written over.
    """
    check_writable(run)
    resolved = {"kolang_run": kind, **resolved}
    note = None
    if run.is_file():
        raise RunDirError(f"--out {run} is a file; name a run folder")
    if (run / CONFIG).exists():
        old = read_run_config(run)
        if old["kolang_run"] != kind:
            raise RunDirError(f"{run} holds a `kolang {old['kolang_run']}` run, not a `kolang {kind}` run; "
                              "choose another --out")
        if not started(run, checkpoints):
            note = None if not resume else f"nothing to resume in {run} (no step was completed): starting the run"
            resume = False
        elif not resume:
            raise RunDirError(f"{run} already holds a run; pass --resume to continue it or choose another --out")
        else:
            before = {**{k: v for k, v in (defaults or {}).items() if k not in old["config"]}, **old["config"]}
            diff = sorted(k for k in set(before) | set(resolved["config"])
                          if before.get(k) != resolved["config"].get(k) and k not in may_change)
            if diff and not force:
                raise RunDirError(f"{run} was started with other options ({', '.join(diff)}); resume with the same "
                                  "ones" + (" or pass --force" if kind == "rl" else ""))
            if old.get("data_sha256") not in (None, resolved.get("data_sha256")):
                raise RunDirError(f"the data changed since {run} was started (its digest differs), so a resumed run "
                                  "would continue on other batches; restore the data or start a new run")
            was, now = old.get("source") or {}, resolved.get("source") or {}
            if was.get("revision") and now.get("revision") and not same_source(was, now) and not force:
                raise RunDirError(f"{run} was started from {describe(was)} and the model now resolves to "
                                  f"{describe(now)} (the branch moved); resume with --revision {was['revision']}")
    elif run.exists() and any(run.iterdir()):
        raise RunDirError(f"{run} exists and is not a kolang run folder; choose another --out")
    elif resume:
        note = f"nothing to resume in {run}: starting the run"
        resume = False
    return Opened(resuming=resume, note=note, path=run / CONFIG, resolved=resolved)


_HF_CKPT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_layout(run: Path) -> tuple[str, list[tuple[int, Path]]]:
    """How a finished run keeps its checkpoints: ("kolang", []) for `kolang rl`'s `checkpoints/step-N/`,
    ("models", [(step, dir)]) for HF/TRL `checkpoint-N/` model folders, ("adapters", ...) for adapter-only
    ones; `RunDirError` for anything else. Reads the file system only."""
    if not run.is_dir():
        raise RunDirError(f"run folder {run} does not exist" if not run.exists() else f"{run} is a file, not a run folder")
    if (run / CONFIG).is_file() and (run / "checkpoints").is_dir():
        return "kolang", []
    found = sorted((int(m.group(1)), p) for p in run.iterdir() if (m := _HF_CKPT.match(p.name)) and p.is_dir())
    if not found:
        raise RunDirError(f"{run} holds neither kolang checkpoints (checkpoints/step-N/) nor Trainer checkpoints "
                          "(checkpoint-N/); pass --models A B … instead")
    adapters = [(step, d) for step, d in found if (d / "adapter_config.json").is_file() and not (d / CONFIG).is_file()]
    if not adapters:
        return "models", found
    if len(adapters) != len(found):
        raise RunDirError(f"{run} mixes adapter-only and full-model checkpoints; pass --models A B … instead")
    return "adapters", adapters
