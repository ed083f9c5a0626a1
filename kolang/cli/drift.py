"""`kolang drift`: neuron drift over the checkpoints of a run folder, or over a list of model folders
(the sources are `kolang.rl.run_models.run_models`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from kolang.analysis.config import DRIFT_FILES, DriftConfig
from kolang.cli._common import corpus_arg, load_arg, model_arg, neurons_arg, out_arg, quiet_libraries, say
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.data.discovery import CorpusConfig, load_discovery
from kolang.errors import ConfigError
from kolang.loading import LoadConfig
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


@command("drift", DriftConfig, LoadConfig, CorpusConfig, exclude=("every",))  # every checkpoint is measured
def _drift(
    paths: Optional[list[str]] = typer.Argument(None, metavar="[MODELS]...", help="Model folders or hub ids "
                                                "(ID@REVISION for another revision), with --models."),
    run: Optional[Path] = typer.Option(None, "--run", help="Run folder: `kolang rl` checkpoints or HF/TRL checkpoint-N "
                                       "folders."),
    models: bool = typer.Option(False, "--models", help="Compare the model folders given as arguments, the first "
                                "being the start."),
    neurons: Optional[Path] = typer.Option(None, "--neurons", help="NeuronSet folder to track (default: the run's "
                                           "--neurons)."),
    base: Optional[str] = typer.Option(None, "--base", help="Starting model, a folder or hub id at --revision "
                                       "(default: the run's --model, or its first checkpoint)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for drift.jsonl and drift.html (default: RUN/drift)."),
    data: Optional[list[str]] = typer.Option(None, "--data", help="Probe texts, as --data of `kolang discover` "
                                             "(default: bundled, seeded)."),
    dtype: str = typer.Option("float32", "--dtype", help="Model dtype: auto, fp32, bf16."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda … (default: cuda if present)."),
    **kwargs,
) -> None:
    """Neuron drift over checkpoints against the start: set overlap, rank correlation, Δ activation probability,
    weight deltas."""
    cfg = from_kwargs(DriftConfig, kwargs)
    load = load_arg(from_kwargs(LoadConfig, kwargs), device)
    corpus = from_kwargs(CorpusConfig, kwargs)
    if paths and not models:
        raise ConfigError("model folders given without --models; write `kolang drift --models A B …`")
    if models and run is not None:
        raise ConfigError("give --run or --models, not both")
    if models and len(paths or []) < 2:
        raise ConfigError("--models needs at least two model folders: the start and a later one")
    sources = [model_arg(p, option="--models") for p in paths or []]
    if run is not None:
        checkpoint_layout(run)
    if load.revision is not None and base is None:
        raise ConfigError("--revision applies to --base; name another revision in --models as ID@REVISION")
    base_source = model_arg(base, load.revision, "--base") if base is not None else None
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
    corpus_arg(data, corpus)
    say(f"drift: {neurons} over " + (f"the checkpoints of {run}" if run is not None else f"{len(paths)} models")
        + f" → {out}")
    quiet_libraries()
    from kolang.analysis.drift import DriftTracker
    from kolang.models import load_model, set_threads
    from kolang.neurons.neuronset import NeuronSet
    from kolang.pipeline.stages import drift_dir
    from kolang.rl.run_models import run_models

    set_threads()
    ns = NeuronSet.load(neurons)

    placement = {k: v for k, v in load.load_kwargs().items() if k != "revision"}  # --base's, resolved in base_source

    def load_one(model: Any) -> tuple[Any, Any]:
        return load_model(model, dtype=dtype, device=device, **placement)

    start, tok, later = run_models(run, sources, base_source, load_one)
    tracker = DriftTracker.from_config(ns, tok, cfg, load_discovery(data, corpus) if data else None)
    say(f"tracking {len(ns)} {ns.target} neurons ({ns.method}) on {len(tracker.texts)} probe texts")

    def show(rec: dict[str, Any]) -> None:
        say(f"  step {rec['step']}: IoU {_f(rec['iou'])} · rank corr {_f(rec['rank_corr'])} · "
            f"|Δp| set {_f(rec['dp_abs_selected'])} vs other {_f(rec['dp_abs_other'])} · "
            f"Δw set {_f(rec['delta_selected'])} vs other {_f(rec['delta_unselected'])}")

    drift_dir(tracker, start, later, out, on_record=show)
    say(f"wrote {out / 'drift.jsonl'} and {out / 'drift.html'}")
