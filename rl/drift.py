"""Drift tracking inside training: kolang's GRPO loop (its `on_step` slot) and any HF/TRL `Trainer`.

Both snapshot the model before the first update and append one line to `<run>/drift.jsonl` every
N steps (and at the last step), after a step-0 line. The file is written only from the first
measurement on, so a run directory is never touched before the trainer has opened it; on resume
the lines of steps the resumed run repeats are dropped first, as `metrics.jsonl`'s are.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from kolang.analysis.config import DRIFT_FILE, DriftConfig
from kolang.analysis.drift import DriftTracker
from kolang.io import append_jsonl, read_jsonl, trim_jsonl
from kolang.neurons.neuronset import NeuronSet


def _open_log(tracker: DriftTracker, path: Path, step: int) -> None:
    """Point `tracker` at `path`, dropping lines of steps >= `step` and writing the step-0 line if none is left."""
    trim_jsonl(path, step)
    has_start = path.is_file() and any(r.get("step") == 0 for r in read_jsonl(path))
    if not has_start:
        append_jsonl(path, tracker.record0)
    tracker.out = path


class GRPODrift:
    """`on_step(step, model)` for `kolang.rl.trainer.GRPOTrainer`: measures every `tracker.every` steps and at `last`."""

    def __init__(self, tracker: DriftTracker, run_dir: str | Path, last: int | None = None, chain: Any = None) -> None:
        self.tracker, self.path, self.last, self.chain = tracker, Path(run_dir) / DRIFT_FILE, last, chain
        self.opened = False

    def __call__(self, step: int, model: Any) -> None:
        if self.chain is not None:
            self.chain(step, model)
        if not (self.tracker.due(step) or step == self.last):
            return
        if not self.opened:
            _open_log(self.tracker, self.path, step)
            self.opened = True
        self.tracker.measure(step, model)


def attach(trainer: Any, tracker: DriftTracker) -> GRPODrift:
    """Snapshot `trainer.model` now and hook `tracker` into the trainer's `on_step` slot (keeping any callback there).

    Call after constructing `GRPOTrainer` and before `train()`: the model is then the starting
    model even when `train(resume=True)` will load a checkpoint into it.
    """
    if not tracker.started:
        tracker.start(trainer.model)
    hook = GRPODrift(tracker, trainer.run, last=trainer.cfg.steps, chain=trainer.on_step)
    trainer.on_step = hook
    return hook


def attach_neurons(trainer: Any, neurons: str | Path | NeuronSet, cfg: DriftConfig = DriftConfig()) -> GRPODrift:
    """`attach` a tracker of `neurons` (a NeuronSet or its directory) built as `cfg` says, on the bundled probe."""
    ns = neurons if isinstance(neurons, NeuronSet) else NeuronSet.load(neurons)
    return attach(trainer, DriftTracker.from_config(ns, trainer.tok, cfg))


class DriftCallback(TrainerCallback):
    """Measures drift every `tracker.every` global steps (and at the last) in `on_step_end` of a HF/TRL Trainer.

    Works in `transformers.Trainer` and `trl.GRPOTrainer`; writes `<args.output_dir>/drift.jsonl`
    from the main process. Every process measures, because the probe statistics are summed across
    ranks. The start is the model at `on_train_begin`, unless `tracker.start(model)` was called
    before (do that when resuming from a checkpoint, so the start is the untrained model).
    """

    def __init__(self, tracker: DriftTracker) -> None:
        self.tracker = tracker
        self.opened = False

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not self.tracker.started:
            if state.global_step > 0:
                warnings.warn("drift: training resumes at step %d and the tracker was not started before; drift is "
                              "measured from the resumed weights" % state.global_step, stacklevel=2)
            self.tracker.start(model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        if not (self.tracker.due(step) or step == state.max_steps):
            return
        if state.is_world_process_zero and not self.opened:
            _open_log(self.tracker, Path(args.output_dir) / DRIFT_FILE, step)
            self.opened = True
        self.tracker.measure(step, model)


__all__ = ["DRIFT_FILE", "DriftCallback", "GRPODrift", "attach", "attach_neurons"]
