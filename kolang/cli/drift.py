"""`kolang drift`: neuron drift over the checkpoints of a run directory, or over a list of model directories
(the sources are `kolang.rl.run_models.run_models`)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Optional

import typer

from kolang.analysis.config import DriftConfig
from kolang.cli import app
from kolang.cli._progress import console
from kolang.cli.options import cli_options
from kolang.config import from_kwargs
from kolang.errors import ConfigError


def _drift(
    paths: Optional[list[Path]] = typer.Argument(None, metavar="[MODEL_DIRS]...", help="Model directories (with --models)."),
    run: Optional[Path] = typer.Option(None, "--run", help="Run directory: `kolang rl` checkpoints or HF/TRL checkpoint-N dirs."),
    models: bool = typer.Option(False, "--models", help="Compare the model directories given as arguments, the first being the start."),
    neurons: Optional[Path] = typer.Option(None, "--neurons", help="NeuronSet directory to track (default: the run's --neurons)."),
    base: Optional[Path] = typer.Option(None, "--base", help="Starting model (default: the run's --model, or its first checkpoint)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Directory for drift.jsonl and drift.html (default: RUN/drift)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Probe JSONL of {text, lang} or parallel lines (default: bundled, seeded)."),
    dtype: str = typer.Option("float32", "--dtype", help="Model dtype: auto, fp32, bf16."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda … (default: cuda if present)."),
    **kwargs,
) -> None:
    """Neuron drift over checkpoints against the start: set overlap, rank correlation, Δ activation probability, weight deltas."""
    from kolang.analysis.drift import DriftTracker
    from kolang.analysis.plots import drift_figure
    from kolang.data.discovery import load_discovery
    from kolang.io import atomic_dir, atomic_write_text
    from kolang.models import load_model, set_threads
    from kolang.neurons.neuronset import NeuronSet
    from kolang.rl.run_models import run_models

    cfg = from_kwargs(DriftConfig, kwargs)
    if paths and not models:
        raise ConfigError("model directories given without --models; write `kolang drift --models A B …`")
    set_threads()
    if neurons is None and run is not None and (run / "config.json").is_file():
        try:
            named = json.loads((run / "config.json").read_text(encoding="utf-8")).get("config", {}).get("neurons")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            named = None
        neurons = Path(named) if named else None
    if neurons is None:
        raise ConfigError("give the neuron set to track with --neurons DIR (from `kolang discover`)")
    if out is None:
        if run is None:
            raise ConfigError("give --out DIR for drift.jsonl and drift.html")
        out = run / "drift"
    ns = NeuronSet.load(neurons)

    def load(path: Path) -> tuple[Any, Any]:
        return load_model(path, dtype=dtype, device=device)

    start, tok, later = run_models(run, list(paths or []), base, load)
    tracker = DriftTracker.from_config(ns, tok, cfg, load_discovery(data) if data is not None else None)
    records = [tracker.start(start)]
    console.print(f"drift: tracking {len(ns)} {ns.target} neurons ({ns.method}) on {len(tracker.texts)} probe texts")
    for step, label, model in later:
        rec = {**tracker.measure(step, model), "source": label}
        records.append(rec)
        console.print(f"  step {step}: IoU {_f(rec['iou'])} · rank corr {_f(rec['rank_corr'])} · "
                      f"|Δp| set {_f(rec['dp_abs_selected'])} vs other {_f(rec['dp_abs_other'])} · "
                      f"Δw set {_f(rec['delta_selected'])} vs other {_f(rec['delta_unselected'])}")
    with atomic_dir(out) as tmp:
        atomic_write_text(tmp / "drift.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        atomic_write_text(tmp / "drift.html", drift_figure(records).to_html(include_plotlyjs=True, full_html=True))
    console.print(f"wrote {out / 'drift.jsonl'} and {out / 'drift.html'}")


_drift.__signature__ = inspect.Signature(  # probe options generated from DriftConfig; every checkpoint is measured
    [p for p in inspect.signature(_drift).parameters.values() if p.kind != p.VAR_KEYWORD]
    + [p for p in cli_options(DriftConfig) if p.name != "every"]
)
app.command("drift")(_drift)


def _f(v: Any) -> str:
    return "—" if v is None else f"{v:.4g}"
