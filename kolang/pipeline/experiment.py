"""The seed comparison on the organism: which pre-RL tuning lets GRPO teach Korean reasoning.

Arms (`kolang.pipeline.config.ARMS`) share the data, the tuning budget and the RL budget; they differ
in what is tuned before RL (Korean neurons of the early layers on plain Korean SFT or on S1's
code-switched traces, a layer-matched random set, LoRA or full tuning of the same layers, Korean
neurons of the late layers, or nothing), in the reward (accuracy alone: S4's collapse control) and in
difficulty filtering (S5). Each arm runs under several seeds. The table reports mean ± sd over seeds;
`comparisons` each arm minus RL only (and S4's and S5's pairs) in final Korean accuracy and Korean
share, with a paired bootstrap interval over seeds and problems; `curves` the per-step RL means.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from kolang.io import atomic_write_json, read_jsonl
from kolang.analysis.intervals import paired_difference
from kolang.pipeline.config import ARMS, BASELINE_ARM, COLUMNS, COMPARISONS, EXPERIMENT_WRITES, ExperimentConfig
from kolang.pipeline.organism import build
from kolang.pipeline.stages import (
    Say,
    Stages,
    budget_key,
    discover_dir,
    RL_GROUP_SIZE,
    evaluate_dir,
    per_problem,
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


def paired(runs: list[dict[str, Any]], arm: str, versus: str, out: Path, resamples: int = 2000) -> dict[str, Any]:
    """`arm` minus `versus` in final held-out Korean-prompt accuracy (avg@4) and Korean share of the thought:
    a bootstrap 95% interval over (seed, problem) pairs, both arms on the same problems under the same seeds."""
    seeds = sorted({r["seed"] for r in runs if r["arm"] == arm} & {r["seed"] for r in runs if r["arm"] == versus})
    result: dict[str, Any] = {"arm": arm, "versus": versus, "seeds": seeds}
    for name, field in (("ko_sampled_accuracy", "correct"), ("ko_sampled_korean_share", "share_thought")):
        a, b = [], []
        for seed in seeds:
            a += per_problem(_final_eval(out, versus, seed), "ko", "sampled", field)
            b += per_problem(_final_eval(out, arm, seed), "ko", "sampled", field)
        result[name] = paired_difference(a, b, resamples, 0) if seeds else None
    return result


def _final_eval(out: Path, arm: str, seed: int) -> Path:
    return out / "runs" / arm / f"seed{seed}" / "final"


def run_experiment(out: str | Path, cfg: ExperimentConfig = ExperimentConfig(), fresh: bool = False,
                   say: Say = print) -> Path:
    """Run every arm x seed into `out` (finished runs are reused) and write `experiment.json`; returns its path.

    A tuned model is shared by the arms that tune the same way under the same seed (they differ only in RL).
    """
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
        for name in cfg.arms:
            arm = ARMS[name]
            layers = cfg.early if arm.where == "early" else cfg.late
            tuned_key = f"{arm.adapter}_{arm.where}_{arm.sft}"
            tune_root = out / "runs" / "tuned" / tuned_key / f"seed{seed}"

            def tuned(arm=arm, layers=layers, tune_root=tune_root, seed=seed) -> dict[str, Any]:
                merged = tune_dir(organism, paths[f"sft_{arm.sft}"], neurons, tune_root / "tune", arm.adapter, layers,
                                  cfg.tune_steps, cfg.tune_lr, seed)["merged"]
                return {"merged": merged, **evaluate_dir(merged, held_out, "tuned", tune_root, seed)}

            start, before = organism, base
            if arm.adapter is not None:
                before = st.run(f"tune/{tuned_key}/seed{seed}", tuned, say)
                start = before["merged"]
            run_dir = out / "runs" / name / f"seed{seed}"

            def one(arm=arm, start=start, before=before, run_dir=run_dir, seed=seed) -> dict[str, Any]:
                t0 = time.perf_counter()
                rl = rl_dir(start, paths["rl"], neurons, run_dir / "rl", cfg.rl_steps, cfg.rl_lr, seed,
                            arm.language_weight, arm.filter_groups)
                row = evaluate_dir(rl["model"], held_out, "final", run_dir, seed)
                metrics = read_jsonl(run_dir / "rl" / "metrics.jsonl")
                kept = [m["kept_fraction"] for m in metrics if m.get("kept_fraction") is not None]
                tokens = sum(m["completion_length"] * m["groups_seen"] * RL_GROUP_SIZE for m in metrics)
                prior = {f"tuned_{k}": v for k, v in before.items() if k not in ("model", "seconds", "merged")}
                return {**row, **prior, "final_iou": rl["final_iou"], "wall_s": round(time.perf_counter() - t0, 1),
                        "kept_fraction": round(sum(kept) / len(kept), 4) if kept else None,
                        "rl_generated_tokens": int(tokens), "curve": curve(run_dir / "rl" / "metrics.jsonl")}

            result = st.run(f"{name}/seed{seed}", one, say)
            runs.append({"arm": name, "seed": seed, **result})
    comparisons = {f"{name}_vs_{BASELINE_ARM}": paired(runs, name, BASELINE_ARM, out)
                   for name in cfg.arms if name != BASELINE_ARM and BASELINE_ARM in cfg.arms}
    comparisons.update({key: paired(runs, a, b, out) for key, (a, b) in COMPARISONS.items()
                        if a in cfg.arms and b in cfg.arms})
    table = {"title": (f"Organism, {len(cfg.seeds)} seed(s): Korean-prompt accuracy and Korean-reasoning share after "
                       f"{cfg.tune_steps} tuning + {cfg.rl_steps} GRPO steps (mean ± sd over seeds); base model: "
                       f"ko acc {_num(base['ko_accuracy'])}, ko share {_num(base['ko_korean_share'])}, "
                       f"en acc {_num(base['en_accuracy'])}"),
             "rows": summarise(runs, cfg.arms), "comparisons": comparisons, "curves": mean_curves(runs, cfg.arms),
             "runs": runs, "base": base,
             "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()}}
    atomic_write_json(out / "experiment.json", table)
    return out / "experiment.json"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"
