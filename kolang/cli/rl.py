"""`kolang rl`: GRPO on {prompt, answer, lang} records, rewarding correct answers reasoned in the target language."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kolang.cli._common import (
    MODEL_HELP,
    progress,
    quiet_libraries,
    resumable,
    run_args,
    say,
)
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.rl.config import RLConfig


def _fmt(v: object) -> str:
    return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


@command("rl", RLConfig)
def _rl(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    data: Path = typer.Option(..., "--data", help='JSONL of {"prompt", "answer", "lang"} records.'),
    out: Path = typer.Option(..., "--out", help="Run folder to create (or continue with --resume)."),
    neurons: Optional[Path] = typer.Option(None, "--neurons", help="NeuronSet folder (for --trainable neurons and "
                                           "drift tracking)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its latest checkpoint."),
    **kwargs,
) -> None:
    """Train with GRPO: accuracy + language-consistency rewards, difficulty filtering, collapse monitor."""
    cfg = from_kwargs(RLConfig, {**kwargs, "model": model, "data": str(data), "out": str(out),
                                 "neurons": str(neurons) if neurons else None})
    source = run_args("rl", cfg, model, data, neurons, out, resume)
    say(f"rl: GRPO on {data}, {cfg.steps} steps, {cfg.prompts_per_step} prompts x {cfg.group_size} completions, "
        f"trainable {cfg.trainable}, from {source} → {out}")
    quiet_libraries()
    from kolang.analysis.config import DriftConfig
    from kolang.rl.drift import attach_neurons
    from kolang.rl.trainer import GRPOTrainer

    with resumable("rl", out), progress("rl", cfg.steps) as update:
        def show(step: int, m: dict) -> None:
            update(step, f"reward {_fmt(m.get('reward'))} · acc {_fmt(m.get('accuracy'))} · "
                         f"{cfg.target} share {_fmt(m.get('target_share'))} · kept {_fmt(m.get('kept_fraction'))}")

        trainer = GRPOTrainer(cfg, progress=show)
        if cfg.neurons and cfg.drift_every > 0:
            attach_neurons(trainer, cfg.neurons, DriftConfig(every=cfg.drift_every))
        summary = trainer.train(resume=resume)
    if summary.get("note"):
        say(summary["note"])
    if summary.get("stopped"):
        say(f"[yellow]stopped: {summary['stopped']}")
    say(f"rl: {summary['steps']} steps → {summary['run_dir']}" + (f" (model: {summary['model']})"
                                                                  if summary.get("model") else ""))
