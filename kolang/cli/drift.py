"""`kolang drift`: neuron drift over the checkpoints of a run directory, or over a list of model directories.

Sources, the first being the start:
  --run RUN (kolang rl)   the run's starting model (--model in its config.json), then every
                          `checkpoints/step-N/` loaded into the same policy (full, lora or neurons);
  --run RUN (HF/TRL)      `checkpoint-N/` model directories (--base, or the first checkpoint, is the start),
                          or adapter-only ones (a Trainer or TRL run with a peft_config): each adapter is
                          applied to a fresh copy of its base (--base, or the adapter's base_model_name_or_path),
                          which is the start;
  --models A B C          model directories in training order.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import typer

from kolang.analysis.drift import DriftConfig
from kolang.cli import app
from kolang.cli._progress import console
from kolang.config import cli_options, from_kwargs
from kolang.errors import ConfigError, RunDirError

_HF_CKPT = re.compile(r"^checkpoint-(\d+)$")


def _kolang_run(run: Path, base: Path | None, load: Any) -> tuple[Any, Any, Iterator[tuple[int, str, Any]]]:
    """Start model, tokenizer and (step, label, model) for each checkpoint of a `kolang rl` run."""
    from kolang.config import from_kwargs
    from kolang.checkpoint import load_trainable
    from kolang.rl import checkpoint as ckpt
    from kolang.rl.config import RLConfig
    from kolang.rl.trainer import prepare_policy

    try:
        saved = json.loads((run / "config.json").read_text(encoding="utf-8"))["config"]
        cfg = from_kwargs(RLConfig, saved)
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{run / 'config.json'} is not a kolang run config: {e}") from None
    start = base or Path(cfg.model)
    hf, tok = load(start)
    dirs = ckpt.checkpoint_dirs(run)
    if not dirs:
        raise RunDirError(f"{run} holds no checkpoints yet (checkpoints/step-N/); nothing to compare")

    def steps() -> Iterator[tuple[int, str, Any]]:
        policy, _ = prepare_policy(hf, cfg)  # the same wrapping as in training, so checkpoint names match
        for d in dirs:
            load_trainable(d, policy)
            yield json.loads((d / "state.json").read_text(encoding="utf-8"))["step"], str(d), policy

    return hf, tok, steps()


def _model_dirs(dirs: list[tuple[int, Path]], load: Any) -> tuple[Any, Any, Iterator[tuple[int, str, Any]]]:
    """Start model, tokenizer and (step, label, model) for model directories; the first is the start."""
    hf, tok = load(dirs[0][1])

    def steps() -> Iterator[tuple[int, str, Any]]:
        for step, d in dirs[1:]:
            yield step, str(d), load(d)[0]

    return hf, tok, steps()


def _adapter_dirs(found: list[tuple[int, Path]], base: Path | None,
                  load: Any) -> tuple[Any, Any, Iterator[tuple[int, str, Any]]]:
    """Start model (the base), tokenizer and (step, label, base + adapter) for PEFT adapter-only checkpoints."""
    from peft import PeftModel

    import kolang.tuning  # noqa: F401  registers the sparse neuron adapter as a PEFT tuner

    first = found[0][1] / "adapter_config.json"
    if base is None:
        try:
            named = json.loads(first.read_text(encoding="utf-8")).get("base_model_name_or_path")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise RunDirError(f"{first} is not a PEFT adapter config: {e}") from None
        base = Path(named) if named else None
    if base is None or not (base / "config.json").is_file():
        raise RunDirError(f"{found[0][1]} holds an adapter only and its base model ({base or 'not named'}) is not a "
                          "local model directory; pass it with --base DIR")
    hf, tok = load(base)

    def steps() -> Iterator[tuple[int, str, Any]]:
        for step, d in found:
            try:
                model = PeftModel.from_pretrained(load(base)[0], str(d))
            except (ValueError, KeyError, RuntimeError, OSError) as e:
                raise RunDirError(f"cannot apply the adapter in {d} to {base}: {str(e).splitlines()[0]}") from None
            yield step, str(d), model.eval()

    return hf, tok, steps()


def _sources(run: Path | None, models: list[Path], base: Path | None, load: Any):
    if run is not None and models:
        raise ConfigError("give --run or --models, not both")
    if run is None and not models:
        raise ConfigError("give a run directory (--run RUN) or model directories (--models A B …)")
    if models:
        if len(models) < 2:
            raise ConfigError("--models needs at least two model directories: the start and a later one")
        for m in models:
            if not m.is_dir():
                raise RunDirError(f"model directory {m} does not exist")
        return _model_dirs(list(enumerate(models)), load)
    if not run.is_dir():
        raise RunDirError(f"run directory {run} does not exist")
    if (run / "config.json").is_file() and (run / "checkpoints").is_dir():
        return _kolang_run(run, base, load)
    found = sorted((int(m.group(1)), p) for p in run.iterdir() if (m := _HF_CKPT.match(p.name)) and p.is_dir())
    if not found:
        raise RunDirError(f"{run} holds neither kolang checkpoints (checkpoints/step-N/) nor Trainer checkpoints "
                          "(checkpoint-N/); pass --models A B … instead")
    adapters = [(step, d) for step, d in found if (d / "adapter_config.json").is_file() and not (d / "config.json").is_file()]
    if adapters:
        if len(adapters) != len(found):
            raise RunDirError(f"{run} mixes adapter-only and full-model checkpoints; pass --models A B … instead")
        return _adapter_dirs(adapters, base, load)
    return _model_dirs(([(0, base)] if base is not None else []) + found, load)


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
    from kolang.analysis.drift import DriftTracker, drift_figure
    from kolang.data.discovery import load_discovery
    from kolang.io import atomic_dir, atomic_write_text
    from kolang.models import load_model, set_threads
    from kolang.neurons.neuronset import NeuronSet

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

    start, tok, later = _sources(run, list(paths or []), base, load)
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
