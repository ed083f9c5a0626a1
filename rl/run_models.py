"""The models of a finished run's checkpoints, for measuring neuron drift after training.

Sources, the first being the start:
  a `kolang rl` run      its starting model (`model` in its config.json), then every
                         `checkpoints/step-N/` loaded into the same policy (full, lora or neurons);
  a HF/TRL run           `checkpoint-N/` model directories (`base`, or the first checkpoint, is the
                         start), or adapter-only ones (a Trainer or TRL run with a `peft_config`):
                         each adapter is applied to a fresh copy of its base (`base`, or the
                         adapter's `base_model_name_or_path`), which is the start;
  model directories      in training order.
`kolang drift --run/--models` measures them with `kolang.analysis.drift.DriftTracker`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from peft import PeftModel

from kolang.checkpoint import load_trainable
from kolang.config import from_kwargs
from kolang.errors import ConfigError, ModelError, RunDirError, first_line
from kolang.hub import ModelSource, fetched, locate
from kolang.models import load_model
from kolang.rl import checkpoint as ckpt
from kolang.rl.config import RLConfig
from kolang.rl.trainer import prepare_policy
from kolang.runs import checkpoint_layout
from kolang.tuning.adapter import register

Loader = Callable[[Any], tuple[Any, Any]]  # a model folder or ModelSource -> (model, tokenizer)



def _kolang_run(run: Path, base: ModelSource | None, load: Any) -> tuple[Any, Any, Iterator[tuple[int, str, Any]]]:
    """Start model, tokenizer and (step, label, model) for each checkpoint of a `kolang rl` run."""
    try:
        saved = json.loads((run / "config.json").read_text(encoding="utf-8"))["config"]
        cfg = from_kwargs(RLConfig, saved)
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{run / 'config.json'} is not a kolang run config: {e}") from None
    try:
        start = base or locate(cfg.model, cfg.revision)
    except ModelError as e:
        raise RunDirError(f"{run} was trained from {cfg.model}, which cannot be found ({e}); pass it with --base") \
            from None
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


def _model_dirs(dirs: list[tuple[int, Path | ModelSource]],
                load: Any) -> tuple[Any, Any, Iterator[tuple[int, str, Any]]]:
    """Start model, tokenizer and (step, label, model) for model folders or hub models; the first is the start."""
    hf, tok = load(dirs[0][1])

    def steps() -> Iterator[tuple[int, str, Any]]:
        for step, d in dirs[1:]:
            yield step, str(d), load(d)[0]

    return hf, tok, steps()


def _adapter_dirs(found: list[tuple[int, Path]], base: ModelSource | None,
                  load: Any) -> tuple[Any, Any, Iterator[tuple[int, str, Any]]]:
    """Start model (the base), tokenizer and (step, label, base + adapter) for PEFT adapter-only checkpoints."""

    register()  # PEFT must know the sparse neuron type before it reads an adapter_config.json

    first = found[0][1] / "adapter_config.json"
    if base is None:
        try:
            named = json.loads(first.read_text(encoding="utf-8")).get("base_model_name_or_path")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise RunDirError(f"{first} is not a PEFT adapter config: {e}") from None
        try:
            base = locate(named, option="its base model") if named else None
        except ModelError as e:
            raise RunDirError(f"{found[0][1]} holds an adapter only and {e}; pass the base with --base") from None
        if base is None:
            raise RunDirError(f"{found[0][1]} holds an adapter only and names no base model; pass it with --base")
    base = fetched(base)  # one download, then every checkpoint reads the same local files
    hf, tok = load(base)

    def steps() -> Iterator[tuple[int, str, Any]]:
        for step, d in found:
            try:
                model = PeftModel.from_pretrained(load(base)[0], str(d))
            except (ValueError, KeyError, RuntimeError, OSError) as e:
                raise RunDirError(f"cannot apply the adapter in {d} to {base}: {first_line(e)}") from None
            yield step, str(d), model.eval()

    return hf, tok, steps()


def run_models(run: Path | None = None, models: Sequence[str | Path | ModelSource] = (),
               base: str | Path | ModelSource | None = None,
               load: Loader = load_model) -> tuple[Any, Any, Iterator[tuple[int, str, Any]]]:
    """The start model, its tokenizer and (step, label, model) for every later checkpoint, in training order.

    `run` is a `kolang rl` run directory or a HF/TRL `output_dir`; `models` lists model folders or hub
    ids instead (the first is the start). `load(model) -> (model, tokenizer)` loads one of them.
    """
    if run is not None and models:
        raise ConfigError("give --run or --models, not both")
    if run is None and not models:
        raise ConfigError("give a run directory (--run RUN) or model directories (--models A B …)")
    run = Path(run) if run is not None else None
    base = locate(base, option="--base") if base is not None else None
    if models:
        if len(models) < 2:
            raise ConfigError("--models needs at least two model directories: the start and a later one")
        return _model_dirs(list(enumerate(locate(m, option="--models") for m in models)), load)
    layout, found = checkpoint_layout(run)
    if layout == "kolang":
        return _kolang_run(run, base, load)
    if layout == "adapters":
        return _adapter_dirs(found, base, load)
    return _model_dirs(([(0, base)] if base is not None else []) + found, load)
