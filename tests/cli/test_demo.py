"""`kolang demo` end to end on the micro organism with tiny budgets; a rerun reuses every stage."""

import json
from pathlib import Path

import pytest
import torch

from kolang.cli import main
from kolang.pipeline.experiment import curve, mean_curves, summarise


@pytest.mark.slow
def test_demo_runs_every_stage_and_resumes(micro_organism, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KOLANG_CACHE", str(micro_organism.parent))
    argv = ["demo", "--size", "micro", "--out", str(tmp_path / "demo"), "--tune-steps", "3", "--rl-steps", "1",
            "--eval-problems", "3", "--per-layer", "4", "--layers", "0:1", "--method", "contrast"]
    main(argv)
    out = tmp_path / "demo"
    stages = json.loads((out / "stages.json").read_text())["done"]
    assert list(stages) == ["organism", "data", "discover", "validate", "eval_base", "tune", "eval_tuned", "rl",
                            "eval_rl", "logit_lens"]
    assert (out / "neurons" / "neurons.json").is_file() and (out / "validate" / "validation.json").is_file()
    assert (out / "tune" / "merged" / "config.json").is_file() and (out / "rl" / "drift.jsonl").is_file()
    html = (out / "report.html").read_text()
    err = capsys.readouterr().err
    assert "plotly" in html.lower() and "report" in err
    # piped, each long stage still reports its progress (a last line at its end, one every few seconds before)
    assert all(line in err for line in ("eval_base: 30/30", "tune: 3/3", "eval_tuned: 30/30", "rl: 1/1",
                                        "eval_rl: 30/30"))
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["checks"]) == {"validation", "rl_learns", "rl_not_worse"}
    assert [r["model"] for r in summary["evaluations"]] == ["base", "tuned", "rl"]
    assert summary["threads"] >= 1 and summary["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    for row in summary["evaluations"]:  # each rate with its interval around it
        for key in ("ko_accuracy", "ko_sampled_accuracy", "en_sampled_accuracy"):
            low, high = row[f"{key}_ci"]
            assert low <= row[key] <= high and row["ko_n"] == 3
    assert (out / "eval" / "rl" / "eval.json").is_file() and (out / "eval" / "rl" / "completions.jsonl").is_file()
    assert html.index("id='summary'") < html.index("id='neurons'")  # the report opens with the result
    assert all(("PASSED" if c["passed"] else "FAILED") in html for c in summary["checks"].values())
    result = html[html.index("id='summary'"):html.index("id='neurons'")]
    assert "completion_length" in result and '"kl"' not in result  # no KL penalty: its panel would be flat 0
    main(argv)  # everything reused
    err = capsys.readouterr().err
    assert err.count("reused") == len(stages) and "tune: 3/3" not in err  # a reused stage shows no progress
    with pytest.raises(SystemExit) as e:  # other settings: refused, nothing reused or overwritten
        main([*argv, "--rl-steps", "2"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "rl_steps" in err and "--fresh" in err
    assert json.loads((out / "stages.json").read_text())["done"] == stages


def test_rl_prompts_are_problems_the_organism_never_trained_on():
    from kolang.data.tasks import splits
    from kolang.pipeline.config import DemoConfig
    from kolang.pipeline.stages import task_splits
    from kolang.organism.config import get_config

    cfg = DemoConfig(size="micro")
    held, train, unseen = task_splits(cfg, seed=3, n_unseen=200)
    ocfg = get_config("micro")
    own = ocfg.problems(3)  # exactly what the organism is built from
    assert train == own["train"] and held == own["eval"][: cfg.eval_problems]
    assert train == splits(3, ocfg.n_problems, 0, 0)["train"]  # its seed's training stream
    assert held == ocfg.problems(0)["eval"][: cfg.eval_problems]  # one held-out set for every seed
    assert len(unseen) == 200 and not {p.id for p in unseen} & {p.id for p in own["train"] + own["eval"]}


def test_experiment_summary_is_mean_and_sd_over_seeds():
    runs = [{"arm": "a", "seed": 0, "ko_accuracy": 0.2, "ko_korean_share": 0.5, "en_accuracy": 0.9, "final_iou": 1.0,
             "wall_s": 10.0},
            {"arm": "a", "seed": 1, "ko_accuracy": 0.4, "ko_korean_share": 0.7, "en_accuracy": 0.7, "final_iou": None,
             "wall_s": 12.0}]
    (row,) = summarise(runs, ("a",))
    assert row["seeds"] == 2
    assert row["ko_accuracy_mean"] == pytest.approx(0.3) and row["ko_accuracy_sd"] == pytest.approx(0.1414, abs=1e-4)
    assert row["final_iou_mean"] == 1.0 and row["final_iou_sd"] == 0.0  # a missing value is left out
    assert row["ko_accuracy"] == "0.300 ± 0.141"
    assert row["ko_sampled_gain_per_mtok_mean"] is None  # no tokens recorded: no efficiency


def test_s5_efficiency_is_the_gain_per_million_generated_tokens():
    from kolang.pipeline.experiment import gain_per_mtok

    run = {"ko_sampled_accuracy": 0.6, "tuned_ko_sampled_accuracy": 0.2, "rl_generated_tokens": 2_000_000}
    assert gain_per_mtok(run) == pytest.approx(0.2)
    assert gain_per_mtok({**run, "rl_generated_tokens": 0}) is None


def test_experiment_curves_are_step_means_over_seeds(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 0, "accuracy": 0.5, "target_share": 0.1, "loss": 1}\n'
                       '{"step": 1, "accuracy": 0.75, "target_share": 0.3}\n')
    assert curve(metrics) == {"accuracy": [0.5, 0.75], "target_share": [0.1, 0.3]}
    runs = [{"arm": "a", "curve": curve(metrics)},
            {"arm": "a", "curve": {"accuracy": [0.0, 0.25, 1.0], "target_share": [0.3, 0.5, 1.0]}},
            {"arm": "b", "curve": None}]
    # Seeds are averaged over the steps all of them reached; an arm without curves is left out.
    assert mean_curves(runs, ("a", "b")) == {"a": {"accuracy": [0.25, 0.5], "target_share": [0.2, 0.4]}}


def test_a_stage_ledger_from_an_earlier_version_is_refused(tmp_path):
    from kolang.pipeline.stages import Stages
    from kolang.errors import ConfigError

    (tmp_path / "stages.json").write_text(json.dumps({"organism": {"model": "x"}}))  # the ledger before settings keys
    with pytest.raises(ConfigError, match="earlier kolang version"):
        Stages(tmp_path, False, {"rl_steps": 1})
    assert Stages(tmp_path, True, {"rl_steps": 1}).done == {}  # --fresh starts over


def _write_eval(folder, per_problem_correct):
    folder.mkdir(parents=True)
    rows = [{"problem": i, "lang": "ko", "mode": "sampled", "sample": k, "correct": bool(c[k])}
            for i, c in enumerate(per_problem_correct) for k in range(len(c))]
    (folder / "completions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_demo_checks_say_whether_grpo_learned(tmp_path):
    from kolang.pipeline.demo import demo_checks

    (tmp_path / "rl").mkdir()
    rising = [{"step": i, "accuracy": 0.2 + 0.01 * i + (0.02 if i % 2 else -0.02)} for i in range(30)]
    (tmp_path / "rl" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rising))
    _write_eval(tmp_path / "eval" / "tuned", [[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]] * 10)
    _write_eval(tmp_path / "eval" / "rl", [[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0]] * 10)
    verdict = {"target": "ko", "target_more_than_references": True, "target_more_than_random": True,
               "selectivity": 0.2, "ratio_to_references": 4.0, "min_ratio": 3.0, "passed": True}
    checks = demo_checks(tmp_path, verdict, seed=0)
    assert all(c["passed"] for c in checks.values()), checks
    assert checks["rl_learns"]["trend"]["low"] > 0
    assert checks["rl_not_worse"]["difference"]["value"] == pytest.approx(0.5 / 3)
    falling = [{"step": i, "accuracy": 0.5 - 0.01 * i} for i in range(30)]
    (tmp_path / "rl" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in falling))
    (tmp_path / "eval" / "rl" / "completions.jsonl").replace(tmp_path / "x")
    (tmp_path / "eval" / "tuned" / "completions.jsonl").replace(tmp_path / "eval" / "rl" / "completions.jsonl")
    (tmp_path / "x").replace(tmp_path / "eval" / "tuned" / "completions.jsonl")
    checks = demo_checks(tmp_path, {**verdict, "passed": False, "ratio_to_references": 1.2}, seed=0)
    assert not any(c["passed"] for c in checks.values())
    assert not checks["validation"]["passed"] and "1.2x" in checks["validation"]["measured"]


@pytest.mark.slow
def test_experiment_shares_tuning_and_compares_arms_paired(micro_organism, tmp_path, capsys, monkeypatch, readme_script):
    monkeypatch.setenv("KOLANG_CACHE", str(micro_organism.parent))
    out = tmp_path / "exp"
    argv = ["experiment", "--size", "micro", "--out", str(out), "--tune-steps", "2", "--rl-steps", "1",
            "--eval-problems", "3", "--early", "0:1", "--late", "1:2", "--seeds", "0", "--seeds", "1",
            "--arms", "rl_only", "--arms", "ko_neurons_early+rl", "--arms", "ko_neurons_early+rl_accuracy_reward",
            "--sweep", "0.12", "--sweep", "0", "--sweep-arms", "rl_only", "--sweep-arms", "ko_neurons_early+rl"]
    main(argv)
    err = capsys.readouterr().err
    data = json.loads((out / "experiment.json").read_text())
    stages = json.loads((out / "stages.json").read_text())["done"]
    # piped, each part of a stage reports its progress (a last line at its end, one every few seconds before)
    assert all(line in err for line in (
        "eval_base: 30/30", "tune/neurons_early_consistent/seed0: 2/2", "tune/neurons_early_consistent/seed0 eval: 30/30",
        "rl_only/seed1 rl: 1/1", "ko_neurons_early+rl/seed0 eval: 30/30", "sweep/koko0/organism train: 40/40",
        "sweep/koko0/rl_only/seed0 rl: 1/1"))
    # the organism the main arms started from, named by its card's digests
    assert data["organism"]["sha256"] == json.loads((micro_organism / "card.json").read_text())["sha256"]
    # the two Korean-neuron arms differ only in RL: one tuned model a seed
    assert [k for k in stages if k.startswith("tune/")] == ["tune/neurons_early_consistent/seed0",
                                                            "tune/neurons_early_consistent/seed1"]
    # the micro recipe's own share (0.12) reuses the main runs; share 0 trains a variant and runs there
    assert [k for k in stages if k.startswith("sweep/")] == [
        "sweep/koko0/organism", "sweep/koko0/discover", "sweep/koko0/eval_base",
        "sweep/koko0/rl_only/seed0", "sweep/koko0/tune/neurons_early_consistent/seed0",
        "sweep/koko0/ko_neurons_early+rl/seed0", "sweep/koko0/rl_only/seed1",
        "sweep/koko0/tune/neurons_early_consistent/seed1", "sweep/koko0/ko_neurons_early+rl/seed1"]
    variant = json.loads((Path(stages["sweep/koko0/organism"]["model"]) / "card.json").read_text())
    assert variant["config"]["mix"]["ko_ko"] == 0.0 and variant["data_mix"]["sequences"].get("ko->ko", 0) == 0
    points = data["sweep"]
    assert [p["ko_ko"] for p in points] == [0.12, 0.0]
    for p in points:
        assert set(p["arms"]) == {"rl_only", "ko_neurons_early+rl"} and "method_vs_rl_only" not in p  # no S1 arm
        for r in p["arms"].values():  # two seeds x three problems, pooled
            acc = r["ko_sampled_accuracy"]
            assert r["seeds"] == [0, 1] and acc["low"] <= acc["value"] <= acc["high"]
    assert points[0]["inherent_korean_share"] == data["base"]["ko_sampled_korean_share"]  # the main organism
    assert (out / "sweep" / "koko0" / "runs" / "rl_only" / "seed1" / "final").is_dir()
    assert set(data["stages_seconds"]) == {"main organism", "main", "koko0 organism", "koko0"}
    # one process ran every stage in turn: each part's wall time is its summed seconds, up to the rounding
    assert set(data["stages_wall_seconds"]) == set(data["stages_seconds"])
    rates = data["stage_rates"]  # a fresh run times every stage
    assert rates["timed"] == rates["stages"] == len(stages) - 2 and rates["one_core_s"] > 0  # organisms aside
    for part, wall in data["stages_wall_seconds"].items():
        assert abs(wall - data["stages_seconds"][part]) <= 0.2 * len(stages) + 0.5, part
    assert abs(data["wall_seconds"] - sum(data["stages_seconds"].values())) <= 0.2 * len(stages) + 0.5
    assert all(p["organism_build_seconds"] > 0 and p["organism_threads"] >= 1 for p in points)  # from the cards
    comp = data["comparisons"]
    assert set(comp) == {"ko_neurons_early+rl_vs_rl_only", "ko_neurons_early+rl_accuracy_reward_vs_rl_only",
                         "s4_cost_of_the_consistency_reward"}
    for c in comp.values():  # two seeds x three problems, paired
        acc = c["ko_sampled_accuracy"]
        assert c["seeds"] == [0, 1] and acc["low"] <= acc["value"] <= acc["high"]
    assert all(r["rl_generated_tokens"] > 0 and r["tuned_ko_n"] == 3 for r in data["runs"] if r["arm"] != "rl_only")
    # the README's experiment block renders from this file: every arm, comparison and sweep point
    block = readme_script.experiment_block(out / "experiment.json")
    assert all(f"`{arm}`" in block for arm in ("rl_only", "ko_neurons_early+rl", "ko_neurons_early+rl_accuracy_reward"))
    assert block.count(" vs `") == len(comp) and "Korean->Korean sweep" in block and "koko0 organism" in block
    assert "by their cards" in block
    assert f"main {data['stages_seconds']['main'] / 60:.1f} min [{data['stages_wall_seconds']['main'] / 60:.1f} min]" in block
    s4 = comp["s4_cost_of_the_consistency_reward"]["ko_sampled_accuracy"]
    assert "the cost (Korean avg@4 with the accuracy reward alone minus with both" in block
    assert f"is {-100 * s4['value']:+.1f} points [{-100 * s4['high']:+.1f}, {-100 * s4['low']:+.1f}]" in block
    assert "S5's efficiency" not in block  # no arm here filters against a no-filter twin


def test_experiment_tables_fit_80_columns(capsys):
    from kolang.cli._common import console
    from kolang.cli.experiment import arms_table, sweep_table
    from kolang.pipeline.config import ARMS

    rows = [{"arm": arm, "seeds": 3, **{f"{k}_mean": 0.123 for k in ("tuned_ko_accuracy", "ko_accuracy",
                                                                       "ko_korean_share", "en_accuracy", "final_iou")}}
            for arm in ARMS]
    iv = {"value": 0.5, "low": 0.25, "high": 0.75}
    points = [{"ko_ko": k, "inherent_korean_share": 0.01, "inherent_korean_share_ci": [0.0, 0.02],
               "base_ko_sampled_accuracy": 0.87, "arms": {arm: {"ko_sampled_accuracy": iv, "ko_sampled_korean_share": iv}
                                                          for arm in ARMS}} for k in (0.0, 0.12)]
    width = console.width
    console.width = 80
    try:
        console.print(arms_table({"title": "t", "rows": rows}))
        console.print(sweep_table(points))
    finally:
        console.width = width
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith(("┏", "┃", "│", "└"))]
    assert lines and all(len(ln) <= 80 for ln in lines)
    assert not any("…" in ln for ln in lines)  # every figure whole; a long arm name folds instead
    assert sum(ln.count("0.50 [0.25, 0.75]") == 2 for ln in lines) == len(points) * len(ARMS)  # a row each
    assert sum("0.01 [0.00, 0.02]" in ln for ln in lines) == len(points)  # each organism's inherent share
