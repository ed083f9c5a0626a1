"""The seed comparison on the organism: which pre-RL tuning lets GRPO teach Korean reasoning.

Arms (`kolang.pipeline.config.ARMS`) share the data, the tuning budget and the RL budget; they differ
in what is tuned before RL (Korean neurons of the early layers on plain Korean SFT or on S1's
code-switched traces, a layer-matched random set, LoRA or full tuning of the same layers, Korean
neurons of the late layers, or nothing), in the reward (accuracy alone: S4's collapse control) and in
difficulty filtering (S5). Each arm runs under several seeds. The table reports mean ± sd over seeds;
`comparisons` each arm minus RL only (and S4's and S5's pairs) in final Korean accuracy and Korean
share, with a paired bootstrap interval over seeds and problems; `curves` the per-step RL means; `sweep` the
same arms' final Korean accuracy and share on organism variants that differ only in how much of their training
reasoned in Korean after a Korean question (when does RL alone suffice?).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from kolang.analysis.intervals import interval, paired_difference
from kolang.io import atomic_write_json, read_jsonl
from kolang.organism.cache import read_card
from kolang.organism.config import get_config
from kolang.pipeline.config import (
    ARMS,
    BASELINE_ARM,
    COLUMNS,
    COMPARISONS,
    EXPERIMENT_WRITES,
    S5_COLUMNS,
    SWEEP_METHOD,
    ExperimentConfig,
)
from kolang.pipeline.organism import build, organism_summary
from kolang.pipeline.progress import Phases, Show, ticking
from kolang.pipeline.stages import (
    POLL_S,
    RL_GROUP_SIZE,
    Claimed,
    Say,
    Stages,
    budget_key,
    discover_dir,
    per_problem,
    rl_dir,
    shown_evaluation,
    task_splits,
    tune_dir,
    write_data,
)

CURVES = ("accuracy", "target_share")  # metrics.jsonl fields averaged over seeds, step by step
# (experiment.json name, completions field) of what each arm is judged by on held-out Korean prompts (avg@4)
FINAL_FIELDS = (("ko_sampled_accuracy", "correct"), ("ko_sampled_korean_share", "share_thought"))


def _mean_sd(values: list[float]) -> dict[str, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "sd": None}
    return {"mean": round(statistics.fmean(vals), 4), "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0}


def gain_per_mtok(run: dict[str, Any]) -> float | None:
    """Held-out Korean avg@4 gained over the run's starting model per million tokens RL generated (S5's efficiency)."""
    end, start, tokens = run.get("ko_sampled_accuracy"), run.get("tuned_ko_sampled_accuracy"), run.get("rl_generated_tokens")
    if end is None or start is None or not tokens:
        return None
    return (end - start) / (tokens / 1e6)


def summarise(runs: list[dict[str, Any]], arms: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per arm: mean and spread of every column over seeds, formatted `mean ± sd`."""
    rows = []
    for arm in arms:
        mine = [{**r, "ko_sampled_gain_per_mtok": gain_per_mtok(r)} for r in runs if r["arm"] == arm]
        row: dict[str, Any] = {"arm": arm, "seeds": len(mine)}
        for col in (*COLUMNS, *S5_COLUMNS):
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
    for name, field in FINAL_FIELDS:
        result[name] = (paired_difference(_final_values(out, versus, seeds, field), _final_values(out, arm, seeds, field),
                                          resamples, 0) if seeds else None)
    return result


def _final_values(out: Path, arm: str, seeds: list[int], field: str) -> list[float | None]:
    """`field` of every held-out Korean problem after `arm`'s RL, seed after seed (in the same problem order)."""
    return [v for seed in seeds for v in per_problem(out / "runs" / arm / f"seed{seed}" / "final", "ko", "sampled", field)]


def pooled(runs: list[dict[str, Any]], arm: str, out: Path, resamples: int = 2000) -> dict[str, Any]:
    """`arm`'s final held-out Korean-prompt accuracy (avg@4) and Korean share of the thought, each a mean with a
    bootstrap 95% interval over its (seed, problem) pairs."""
    seeds = sorted({r["seed"] for r in runs if r["arm"] == arm})
    result: dict[str, Any] = {"arm": arm, "seeds": seeds}
    for name, field in FINAL_FIELDS:
        result[name] = interval(_final_values(out, arm, seeds, field), resamples, 0)
    return result


class Variant:
    """One organism (the recipe's, or its variant with Korean->Korean share `ko_ko`) and the arms run on it under
    `where`, each stage named `prefix` + its name in the ledger. `rows` collects one row a finished (seed, arm)."""

    def __init__(self, st: Stages, where: Path, prefix: str, cfg: ExperimentConfig, arms: tuple[str, ...],
                 paths: dict[str, Any], held_out, say: Say, ko_ko: float | None = None, show: Show | None = None
                 ) -> None:
        self.st, self.where, self.prefix, self.cfg, self.arms = st, where, prefix, cfg, arms
        self.paths, self.held_out, self.say, self.ko_ko, self.show = paths, held_out, say, ko_ko, show
        self.rows: dict[tuple[int, str], dict[str, Any]] = {}
        self._ready: tuple[str, str, dict[str, Any]] | None = None

    def units(self) -> list[tuple[int, str]]:
        return [(seed, name) for seed in self.cfg.seeds for name in self.arms]

    def prepared(self, wait: bool = True) -> tuple[str, str, dict[str, Any]]:
        """(organism folder, Korean neuron set folder, the organism's evaluation row): built, found and measured
        first when not yet in the ledger."""
        if self._ready is None:
            st, cfg, pre, say = self.st, self.cfg, self.prefix, self.say
            def organism_stage() -> dict[str, Any]:
                with Phases(self.show, pre + "organism ") as update:
                    return {"model": str(build(cfg.size, ko_ko=self.ko_ko, progress=update))}

            organism = st.run(pre + "organism", organism_stage, say, wait)["model"]
            neurons = st.run(pre + "discover", lambda: discover_dir(organism, self.paths["discovery"],
                                                                    self.where / "neurons", cfg.method, cfg.per_layer,
                                                                    cfg.top_fraction), say, wait)["neurons"]
            base = st.run(pre + "eval_base", lambda: shown_evaluation(self.show, pre + "eval_base", organism,
                                                                      self.held_out, "base", self.where / "eval", 0),
                          say, wait)
            self._ready = (organism, neurons, base)
        return self._ready

    def run(self, seed: int, name: str, wait: bool = True) -> dict[str, Any]:
        """Arm `name` under `seed`: its tuning (shared by the arms that tune alike), its RL run, and the final
        evaluation; the row the tables read."""
        organism, neurons, base = self.prepared(wait)
        cfg, st, out, prefix = self.cfg, self.st, self.where, self.prefix
        arm = ARMS[name]
        layers = cfg.early if arm.where == "early" else cfg.late
        tuned_key = f"{arm.adapter}_{arm.where}_{arm.sft}"
        tune_root = out / "runs" / "tuned" / tuned_key / f"seed{seed}"

        tune_stage = f"{prefix}tune/{tuned_key}/seed{seed}"

        def tuned() -> dict[str, Any]:
            with ticking(self.show, tune_stage, cfg.tune_steps) as tick:
                merged = tune_dir(organism, self.paths[f"sft_{arm.sft}"], neurons, tune_root / "tune", arm.adapter,
                                  layers, cfg.tune_steps, cfg.tune_lr, seed, tick=tick)["merged"]
            return {"merged": merged, **shown_evaluation(self.show, f"{tune_stage} eval", merged, self.held_out, "tuned",
                                                         tune_root, seed)}

        start, before = organism, base
        if arm.adapter is not None:
            before = st.run(tune_stage, tuned, self.say, wait)
            start = before["merged"]
        run_dir = out / "runs" / name / f"seed{seed}"
        stage = f"{prefix}{name}/seed{seed}"

        def one() -> dict[str, Any]:
            t0 = time.perf_counter()
            with ticking(self.show, f"{stage} rl", cfg.rl_steps) as tick:
                rl = rl_dir(start, self.paths["rl"], neurons, run_dir / "rl", cfg.rl_steps, cfg.rl_lr, seed,
                            arm.language_weight, arm.filter_groups, tick=tick)
            row = shown_evaluation(self.show, f"{stage} eval", rl["model"], self.held_out, "final", run_dir, seed)
            metrics = read_jsonl(run_dir / "rl" / "metrics.jsonl")
            kept = [m["kept_fraction"] for m in metrics if m.get("kept_fraction") is not None]
            tokens = sum(m["completion_length"] * m["groups_seen"] * RL_GROUP_SIZE for m in metrics)
            prior = {f"tuned_{k}": v for k, v in before.items() if k not in ("model", "seconds", "merged")}
            return {**row, **prior, "final_iou": rl["final_iou"], "wall_s": round(time.perf_counter() - t0, 1),
                    "kept_fraction": round(sum(kept) / len(kept), 4) if kept else None,
                    "rl_generated_tokens": int(tokens), "curve": curve(run_dir / "rl" / "metrics.jsonl")}

        result = st.run(stage, one, self.say, wait)
        self.rows[(seed, name)] = {"arm": name, "seed": seed, **result}
        return self.rows[(seed, name)]

    def base_and_runs(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The organism's evaluation row and one row a finished run, seeds x arms in order."""
        return self.prepared()[2], [self.rows[u] for u in self.units()]


def run_all(variants: list[Variant], say: Say) -> None:
    """Run every variant's (seed, arm) in order. A stage another process is running (a second `kolang
    experiment` on the same folder) is passed over for the next free one and come back to, so processes
    sharing a folder share its work; when only others' stages are left, wait for them."""
    pending = [(v, seed, name) for v in variants for seed, name in v.units()]
    told = False
    while pending:
        left = []
        for v, seed, name in pending:
            try:
                v.run(seed, name, wait=False)
            except Claimed:
                left.append((v, seed, name))
        if left and len(left) == len(pending):
            if not told:
                say(f"[dim]waiting for {len(left)} run(s) other processes are running in this folder[/dim]")
                told = True
            time.sleep(POLL_S)
        pending = left


def sweep_point(ko_ko: float, base: dict[str, Any], runs: list[dict[str, Any]], arms: tuple[str, ...],
                out: Path, organism: str | Path) -> dict[str, Any]:
    """One point of the Korean->Korean sweep: the organism's inherent Korean share (sampled, on held-out Korean
    prompts), and each arm's final Korean accuracy and share with intervals, and S1's method minus RL only; and
    how long the organism took to build, from its card (it may have been trained before the experiment reached it)."""
    card = read_card(organism)
    point: dict[str, Any] = {"ko_ko": ko_ko, "inherent_korean_share": base.get("ko_sampled_korean_share"),
                             "organism_build_seconds": card.get("training", {}).get("build_seconds"),
                             "organism_threads": card.get("threads"),
                             "inherent_korean_share_ci": base.get("ko_sampled_korean_share_ci"),
                             "base_ko_sampled_accuracy": base.get("ko_sampled_accuracy"),
                             "arms": {arm: pooled(runs, arm, out) for arm in arms}}
    if SWEEP_METHOD in arms and BASELINE_ARM in arms:
        point["method_vs_rl_only"] = paired(runs, SWEEP_METHOD, BASELINE_ARM, out)
    return point


def run_experiment(out: str | Path, cfg: ExperimentConfig = ExperimentConfig(), fresh: bool = False,
                   say: Say = print, show: Show | None = None) -> Path:
    """Run every arm x seed into `out` (finished runs are reused) and write `experiment.json`; returns its path.

    A tuned model is shared by the arms that tune the same way under the same seed (they differ only in RL). Then,
    for each Korean->Korean share of `cfg.sweep`, an organism variant with that share is trained and RL only and
    S1's method run on it (`cfg.sweep_arms`) under `out/sweep/koko<percent>`; the recipe's own share reuses the
    main runs. Every stage is resumable: a rerun continues where a killed one stopped, and processes running this
    with the same `out` and settings share the work (`run_all`). `show` displays the progress of each stage's
    parts (an organism's training, tuning, GRPO, evaluations).
    """
    out = Path(out)
    st = Stages(out, fresh, {**budget_key(cfg), "early": cfg.early, "late": cfg.late}, EXPERIMENT_WRITES)
    if others := st.others():
        say(f"joining {len(others)} other process(es) working in {out} (pid {', '.join(str(o['pid']) for o in others)}): "
            "each run goes to whichever process is free")
    held_out, train, unseen = task_splits(cfg)
    recipe = get_config(cfg.size).mix.ko_ko
    # The data's problems and texts do not depend on the mix: every variant reads the same files.
    paths = st.run("data", lambda: write_data(out / "data", train, unseen, 0, cfg.sft), say)
    main = Variant(st, out, "", cfg, cfg.arms, paths, held_out, say, show=show)
    variants, points = [main], []
    for share in cfg.sweep:
        if share == recipe:  # the main organism: its runs, and the sweep's arms the main arms leave out
            extra = Variant(st, out, "", cfg, tuple(a for a in cfg.sweep_arms if a not in cfg.arms), paths,
                            held_out, say, show=show)
            variants.append(extra)
            points.append((share, [main, extra], out))
        else:
            label = f"koko{share * 100:g}"
            variant = Variant(st, out / "sweep" / label, f"sweep/{label}/", cfg, cfg.sweep_arms, paths, held_out,
                              say, ko_ko=share, show=show)
            variants.append(variant)
            points.append((share, [variant], variant.where))
    run_all(variants, say)
    st.refresh()
    base, runs = main.base_and_runs()
    sweep = []
    for share, parts, where in points:
        rows = [r for v in parts for r in v.base_and_runs()[1]]
        sweep.append(sweep_point(share, parts[0].base_and_runs()[0], rows, cfg.sweep_arms, where,
                                 parts[0].prepared()[0]))
    comparisons = {f"{name}_vs_{BASELINE_ARM}": paired(runs, name, BASELINE_ARM, out)
                   for name in cfg.arms if name != BASELINE_ARM and BASELINE_ARM in cfg.arms}
    comparisons.update({key: paired(runs, a, b, out) for key, (a, b) in COMPARISONS.items()
                        if a in cfg.arms and b in cfg.arms})
    table = {"title": (f"Organism, {len(cfg.seeds)} seed(s): Korean-prompt accuracy and Korean-reasoning share after "
                       f"{cfg.tune_steps} tuning + {cfg.rl_steps} GRPO steps (mean ± sd over seeds); base model: "
                       f"ko acc {_num(base['ko_accuracy'])}, ko share {_num(base['ko_korean_share'])}, "
                       f"en acc {_num(base['en_accuracy'])}"),
             "rows": summarise(runs, cfg.arms), "comparisons": comparisons, "curves": mean_curves(runs, cfg.arms),
             "sweep": sweep, "runs": runs, "base": base, "organism": organism_summary(main.prepared()[0]),
             "stages_seconds": _stage_seconds(st.done),
             "stages_wall_seconds": _wall_seconds(st.done, st.spans),
             "wall_seconds": _whole_wall_seconds(st.done, st.spans), "stage_rates": stage_rates(st.done, st.spans),
             "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()}}
    atomic_write_json(out / "experiment.json", table)
    return out / "experiment.json"


def _where(name: str) -> tuple[str, list[str]]:
    """A ledger stage name split into the organism it ran on ("main" or a sweep variant's name) and the stage's
    own name on it ("sweep/koko3/tune/neurons_early_consistent/seed0" -> "koko3", [tune, neurons_…, seed0])."""
    parts = name.split("/")
    return (parts[1], parts[2:]) if parts[0] == "sweep" else ("main", parts)


def _part(name: str) -> str:
    """The part of the experiment a stage belongs to: the main arms, a sweep variant's organism, or its runs."""
    key, leaf = _where(name)
    return key + " organism" if leaf[0] == "organism" else key


def _stage_seconds(done: dict[str, Any]) -> dict[str, float]:
    """Seconds each part took, from the ledger: the main arms, each sweep variant's training, and its runs (the
    work: stages two processes ran side by side both count)."""
    parts: dict[str, float] = {}
    for name, result in done.items():
        key = _part(name)
        parts[key] = round(parts.get(key, 0.0) + float(result.get("seconds") or 0.0), 1)
    return parts


def _kind(name: str) -> str:
    """What a stage does, whatever organism it ran on: an arm's RL run (the arm's name), a tuning, or a set-up step."""
    return _where(name)[1][0]


def stage_rates(done: dict[str, Any], spans: dict[str, list[float]]) -> dict[str, Any]:
    """How long each kind of stage took, from the stages the ledger holds times for ({kind: {n, count, mean_s}}:
    n timed of count run), and what the whole would take one core at those rates without the organisms' training
    (an RL arm never timed counts at the mean of the timed RL runs)."""
    kinds: dict[str, dict[str, Any]] = {}
    for name in done:
        k = kinds.setdefault(_kind(name), {"count": 0, "times": []})
        k["count"] += 1
        if name in spans:
            k["times"].append(spans[name][1] - spans[name][0])
    rl = [t for kind, k in kinds.items() if kind in ARMS for t in k["times"]]
    rates, total = {}, 0.0
    for kind, k in kinds.items():
        if kind == "organism":  # a variant built before the experiment reached it: the cards say how long
            continue
        mean = statistics.fmean(k["times"]) if k["times"] else statistics.fmean(rl) if kind in ARMS and rl else None
        rates[kind] = {"n": len(k["times"]), "count": k["count"], "mean_s": None if mean is None else round(mean, 1)}
        total += (mean or 0.0) * k["count"]
    return {"kinds": rates, "one_core_s": round(total, 1), "timed": sum(r["n"] for r in rates.values()),
            "stages": sum(r["count"] for r in rates.values())}


def _wall_seconds(done: dict[str, Any], spans: dict[str, list[float]]) -> dict[str, float]:
    """Wall seconds each part spent running, from the ledger's spans: the union of its stages' [start, end]
    intervals, so that stages run side by side count once and the time between sessions not at all. A part with
    a stage an older kolang ran (no span) is left out rather than understated."""
    by_part: dict[str, list[list[float]]] = {}
    missing: set[str] = set()
    for name in done:
        if name in spans:
            by_part.setdefault(_part(name), []).append(spans[name])
        else:
            missing.add(_part(name))
    return {key: _union_seconds(intervals) for key, intervals in by_part.items() if key not in missing}


def _whole_wall_seconds(done: dict[str, Any], spans: dict[str, list[float]]) -> float | None:
    """Wall seconds the whole experiment spent running (the union of every stage's span, so parts run side by side
    count once and the time between sessions not at all); None if a stage has no span (an older kolang ran it)."""
    if not done or any(name not in spans for name in done):
        return None
    return _union_seconds([spans[name] for name in done])


def _union_seconds(intervals: list[list[float]]) -> float:
    """Length of the union of `intervals` ([start, end] each), rounded to 0.1 s."""
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total, end = total + (b - a), b
        elif b > end:
            total, end = total + (b - end), b
    return round(total, 1)


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"
