"""The seed claim as a table on the organism: which pre-RL tuning lets GRPO teach Korean reasoning.

Arms share the data, the tuning budget (steps, batch, learning rate) and the RL budget; only what
is tuned before RL differs (Korean neurons of the early layers, a layer-matched random set, LoRA or
full tuning of the same layers, Korean neurons of the late layers, or nothing). Two more arms run
GRPO with the accuracy reward only, from the organism and from the Korean-neuron tuned model: the
controls for cross-lingual collapse. Each arm runs under
several seeds; the table reports mean ± standard deviation and `curves` the per-step means of
accuracy and Korean-reasoning share over the RL run.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from kolang.io import atomic_write_json, read_jsonl
from kolang.pipeline.config import ARMS, COLUMNS, EXPERIMENT_WRITES, ExperimentConfig
from kolang.pipeline.organism import build
from kolang.pipeline.stages import (
    Say,
    Stages,
    budget_key,
    discover_dir,
    evaluate_dir,
    rl_dir,
    task_splits,
    tune_dir,
    write_data,
)

CURVES = ("accuracy", "target_share")  # metrics.jsonl fields averaged over seeds, step by step


def _mean_sd(values: list[float]) -> dict[str, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "sd": None}
    return {"mean": round(statistics.fmean(vals), 4), "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0}


def summarise(runs: list[dict[str, Any]], arms: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per arm: mean and spread of every column over seeds, formatted `mean ± sd`."""
    rows = []
    for arm in arms:
        mine = [r for r in runs if r["arm"] == arm]
        row: dict[str, Any] = {"arm": arm, "seeds": len(mine)}
        for col in COLUMNS:
            ms = _mean_sd([r.get(col) for r in mine])
            row[col] = None if ms["mean"] is None else f"{ms['mean']:.3f} ± {ms['sd']:.3f}"
            row[f"{col}_mean"], row[f"{col}_sd"] = ms["mean"], ms["sd"]
        rows.append(row)
    return rows


def curve(metrics: Path) -> dict[str, list[float]]:
    """The `CURVES` fields of an RL run's metrics.jsonl, one value a step."""
    rows = read_jsonl(metrics)
    return {k: [r[k] for r in rows] for k in CURVES}


def mean_curves(runs: list[dict[str, Any]], arms: tuple[str, ...]) -> dict[str, dict[str, list[float]]]:
    """Per arm, the step-by-step mean over seeds of each `CURVES` field (over the steps every seed reached)."""
    out = {}
    for arm in arms:
        mine = [r["curve"] for r in runs if r["arm"] == arm and r.get("curve")]
        if mine:
            n = min(len(c[CURVES[0]]) for c in mine)
            out[arm] = {k: [round(statistics.fmean(c[k][i] for c in mine), 4) for i in range(n)] for k in CURVES}
    return out


def run_experiment(out: str | Path, cfg: ExperimentConfig = ExperimentConfig(), fresh: bool = False,
                   say: Say = print) -> Path:
    """Run every arm x seed into `out` (finished runs are reused) and write `experiment.json`; returns its path."""

    out = Path(out)
    st = Stages(out, fresh, {**budget_key(cfg), "early": cfg.early, "late": cfg.late}, EXPERIMENT_WRITES)
    organism = st.run("organism", lambda: {"model": str(build(cfg.size))}, say)["model"]
    held_out, train, unseen = task_splits(cfg)
    paths = st.run("data", lambda: write_data(out / "data", train, unseen, 0, cfg.sft), say)
    neurons = st.run("discover", lambda: discover_dir(organism, paths["discovery"], out / "neurons", cfg.method,
                                                     cfg.per_layer, cfg.top_fraction), say)["neurons"]
    base = st.run("eval_base", lambda: evaluate_dir(organism, held_out, "base", out / "eval", 0), say)
    runs = []
    for seed in cfg.seeds:
        for arm in cfg.arms:
            adapter, where, language_weight = ARMS[arm]
            layers = cfg.early if where == "early" else cfg.late
            name = f"{arm}/seed{seed}"
            run_dir = out / "runs" / arm / f"seed{seed}"

            def one(adapter=adapter, layers=layers, run_dir=run_dir, name=name, seed=seed,
                    language_weight=language_weight) -> dict[str, Any]:
                t0 = time.perf_counter()
                start, tuned = organism, base
                if adapter is not None:
                    start = tune_dir(organism, paths["sft"], neurons, run_dir / "tune", adapter, layers,
                                     cfg.tune_steps, cfg.tune_lr, seed)["merged"]
                    tuned = evaluate_dir(start, held_out, "tuned", run_dir, seed)
                rl = rl_dir(start, paths["rl"], neurons, run_dir / "rl", cfg.rl_steps, cfg.rl_lr, seed, language_weight)
                row = evaluate_dir(rl["model"], held_out, name.replace("/", "_"), run_dir, seed)
                before = {f"tuned_{k}": v for k, v in tuned.items() if k not in ("model", "seconds")}
                return {**row, **before, "final_iou": rl["final_iou"], "wall_s": round(time.perf_counter() - t0, 1),
                        "curve": curve(run_dir / "rl" / "metrics.jsonl")}

            result = st.run(name, one, say)
            runs.append({"arm": arm, "seed": seed, **result})
    table = {"title": (f"Organism, {len(cfg.seeds)} seed(s): Korean-prompt accuracy and Korean-reasoning share after "
                       f"{cfg.tune_steps} tuning + {cfg.rl_steps} GRPO steps (mean ± sd); base model: "
                       f"ko acc {base['ko_accuracy']:.3f}, ko share {base['ko_korean_share']:.3f}, "
                       f"en acc {base['en_accuracy']:.3f}"),
             "rows": summarise(runs, cfg.arms), "curves": mean_curves(runs, cfg.arms), "runs": runs, "base": base,
             "config": {
                 k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()}}
    atomic_write_json(out / "experiment.json", table)
    return out / "experiment.json"
