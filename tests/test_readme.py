"""The README's result tables are what the committed results files say (scripts/readme.py writes them)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_are_generated_from_the_results_files(readme_script):
    script = readme_script
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.render(text) == text, "README.md is out of date: run `python scripts/readme.py`"


def test_every_block_has_a_renderer(readme_script):
    script = readme_script
    names = {m.group("name") for m in script.BLOCK.finditer((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert names <= set(script.RENDERERS)


def test_the_demo_seeds_block_says_whether_the_demos_seed_reproduces_and_where_reruns_fall(readme_script, tmp_path,
                                                                                           monkeypatch):
    import json

    keys = ("ko_accuracy", "ko_sampled_accuracy", "ko_sampled_korean_share")
    tuned, rl = dict.fromkeys(keys, 0.5), dict.fromkeys(keys, 0.8)
    organism = {"version": "6", "sha256": {"model.safetensors": "ab"}}
    demo = {"config": {"seed": 1}, "organism": organism,
            "evaluations": [{"model": "tuned", **tuned}, {"model": "rl", **rl}]}
    runs = [{"arm": readme_script.DEMO_ARM, "seed": s, **{f"tuned_{k}": 0.5 + d for k in keys},
             **{k: 0.8 + d for k in keys}} for s, d in ((0, -0.1), (1, 0.0), (2, 0.1))]
    runs.append({"arm": "rl_only", "seed": 1, **{k: 0.0 for k in keys}})  # another arm: not counted
    (tmp_path / "reruns").mkdir()
    for path, data in ((tmp_path / "summary.json", demo), (tmp_path / "experiment.json", {"runs": runs, "organism": organism}),
                       (tmp_path / "reruns" / "other.json",
                        {"evaluations": [{"model": "tuned", **tuned}, {"model": "rl", **dict.fromkeys(keys, 0.95)}]})):
        path.write_text(json.dumps(data))
    monkeypatch.setattr(readme_script, "DEMO", tmp_path / "summary.json")
    monkeypatch.setattr(readme_script, "EXPERIMENT", tmp_path / "experiment.json")
    monkeypatch.setattr(readme_script, "RERUNS", tmp_path / "reruns")
    block = readme_script.demo_seeds()
    assert "reproduces the tuned and RL rows above exactly" in block and "3 seeds (0, 1, 2)" in block
    assert block.count("| tuned |") == 3 and block.count("0.400 – 0.600 | other 0.500 inside") == 3
    assert block.count("0.700 – 0.900 | other 0.950 **outside**") == 3
    demo["evaluations"][1]["ko_accuracy"] = 0.81  # the demo's seed no longer matches its experiment run
    (tmp_path / "summary.json").write_text(json.dumps(demo))
    assert "**differs** from the rows above" in readme_script.demo_seeds()
    # an experiment run on other weights is not set beside the demo at all
    (tmp_path / "experiment.json").write_text(json.dumps({"runs": runs, "organism": {"version": "5", "sha256": {}}}))
    block = readme_script.demo_seeds()
    assert "ran on another organism (v5) than this demo (v6)" in block and "|" not in block


def test_the_sweep_figure_draws_each_point_with_its_interval_and_is_checked(readme_script):
    import re
    import subprocess
    import sys

    iv = lambda v: {"value": v, "low": v - 0.05, "high": v + 0.05}  # noqa: E731
    sweep = [{"ko_ko": k, "inherent_korean_share": s, "arms": {arm: {"ko_sampled_accuracy": iv(0.5 + s),
                                                                     "ko_sampled_korean_share": iv(0.2 + s)}
                                                               for arm in ("rl_only", "s1")}}
             for k, s in ((0.12, 0.24), (0.0, 0.0), (0.03, 0.08))]
    svg = readme_script.sweep_svg({"sweep": sweep})
    assert svg.count("<circle") == 2 * 2 * 3 and svg.count("<polyline") == 2 * 2  # a point a panel, arm and organism
    # points run by inherent share, and an interval is a vertical line from low to high (0.5 -> 0.55 on accuracy)
    first = re.findall(r'<polyline fill="none" stroke="[^"]+" stroke-width="2" points="([^"]+)"', svg)[0].split()
    assert [float(p.split(",")[0]) for p in first] == sorted(float(p.split(",")[0]) for p in first)
    assert readme_script.sweep_svg({"sweep": sweep}) == svg  # the same file every time: nothing but the data in it
    # --check fails when the committed figure is not what the results file draws
    committed = readme_script.SWEEP_SVG
    if committed.exists():
        assert committed.read_text(encoding="utf-8") == readme_script.figures()[committed]
    script = Path(readme_script.__file__)
    out = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
