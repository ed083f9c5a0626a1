"""`kolang drift`: neuron drift over the checkpoints of a run folder, or over a list of model folders
(the sources are `kolang.rl.run_models.run_models`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from kolang.analysis.config import DRIFT_FILES, DriftConfig
from kolang.cli._common import data_arg, model_arg, neurons_arg, out_arg, quiet_libraries, say
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.errors import ConfigError
from kolang.runs import checkpoint_layout


def _f(v: Any) -> str:
    return "—" if v is None else f"{v:.4g}"


def _run_neurons(run: Path) -> Path | None:
    """The `--neurons` a run was started with, from its config.json (None when it names none)."""
    try:
        named = json.loads((run / "config.json").read_text(encoding="utf-8")).get("config", {}).get("neurons")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(named) if isinstance(named, str) and named else None


@command("drift", DriftConfig, exclude=("every",))  # every checkpoint is measured
def _drift(
    paths: Optional[list[Path]] = typer.Argument(None, metavar="[MODEL_DIRS]...", help="Model folders (with --models)."),
    run: Optional[Path] = typer.Option(None, "--run", help="Run folder: `kolang rl` checkpoints or HF/TRL checkpoint-N "
                                       "folders."),
    models: bool = typer.Option(False, "--models", help="Compare the model folders given as arguments, the first "
                                "being the start."),
    neurons: Optional[Path] = typer.Option(None, "--neurons", help="NeuronSet folder to track (default: the run's "
                                           "--neurons)."),
    base: Optional[Path] = typer.Option(None, "--base", help="Starting model (default: the run's --model, or its first "
                                        "checkpoint)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for drift.jsonl and drift.html (default: RUN/drift)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Probe JSONL of {text, lang} or parallel lines (default: "
                                        "bundled, seeded)."),
    dtype: str = typer.Option("float32", "--dtype", help="Model dtype: auto, fp32, bf16."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda … (default: cuda if present)."),
    **kwargs,
) -> None:
    """Neuron drift over checkpoints against the start: set overlap, rank correlation, Δ activation probability,
    weight deltas."""
    cfg = from_kwargs(DriftConfig, kwargs)
    if paths and not models:
        raise ConfigError("model folders given without --models; write `kolang drift --models A B …`")
    if models and run is not None:
        raise ConfigError("give --run or --models, not both")
    if models and len(paths or []) < 2:
        raise ConfigError("--models needs at least two model folders: the start and a later one")
    for p in paths or []:
        model_arg(p, "--models")
    if run is not None:
        checkpoint_layout(run)
    if base is not None:
        model_arg(base, "--base")
    if neurons is None and run is not None:
        neurons = _run_neurons(run)
    if neurons is None:
        raise ConfigError("give the neuron set to track with --neurons DIR (from `kolang discover`)")
    neurons_arg(neurons)
    if out is None:
        if run is None:
            raise ConfigError("give --out DIR for drift.jsonl and drift.html")
        out = run / "drift"
    out_arg(out, DRIFT_FILES)
    if data is not None:
        data_arg(data)
    say(f"drift: {neurons} over " + (f"the checkpoints of {run}" if run is not None else f"{len(paths)} models")
        + f" → {out}")
    quiet_libraries()
    from kolang.analysis.drift import DriftTracker
    from kolang.data.discovery import load_discovery
    from kolang.models import load_model, set_threads
    from kolang.neurons.neuronset import NeuronSet
    from kolang.pipeline.stages import drift_dir
    from kolang.rl.run_models import run_models

    set_threads()
    ns = NeuronSet.load(neurons)

    def load(path: Path) -> tuple[Any, Any]:
        return load_model(path, dtype=dtype, device=device)

    start, tok, later = run_models(run, list(paths or []), base, load)
    tracker = DriftTracker.from_config(ns, tok, cfg, load_discovery(data) if data is not None else None)
    say(f"tracking {len(ns)} {ns.target} neurons ({ns.method}) on {len(tracker.texts)} probe texts")

    def show(rec: dict[str, Any]) -> None:
        say(f"  step {rec['step']}: IoU {_f(rec['iou'])} · rank corr {_f(rec['rank_corr'])} · "
            f"|Δp| set {_f(rec['dp_abs_selected'])} vs other {_f(rec['dp_abs_other'])} · "
            f"Δw set {_f(rec['delta_selected'])} vs other {_f(rec['delta_unselected'])}")

    drift_dir(tracker, start, later, out, on_record=show)
    say(f"wrote {out / 'drift.jsonl'} and {out / 'drift.html'}")
