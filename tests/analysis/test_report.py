"""The HTML report: finds artifacts at any depth, renders what exists (and says what it could not read),
inlines plotly.js once, and draws every figure without a JavaScript error in a headless browser."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import warnings
import zlib
from pathlib import Path

import pytest
import torch

from kolang.analysis.artifacts import find_artifacts
from kolang.analysis.report import build_report, experiment_rows, write_report
from kolang.io import read_jsonl, torn
from kolang.analysis.plots import alarm_spans, metrics_figure
from kolang.errors import RunDirError

FIGURES_IN_FULL_RUN = 9  # neurons: counts + scores; validation; logit lens; probes; metrics; drift; RL curves; eval


@pytest.fixture(scope="module")
def run_dir(micro_organism, tmp_path_factory):
    """A demo-shaped run folder made by the real stages on the micro organism: neurons/, validate/,
    analysis/ (logit lens, probes), rl/ (GRPO with drift tracking and a collapse alarm), experiment.json, eval/."""
    from kolang.analysis.config import EvalConfig
    from kolang.analysis.drift import DriftTracker, probe_set_from_tasks
    from kolang.analysis.evaluate import evaluate_model, problem_records
    from kolang.analysis.logit_lens import korean_prompts, logit_lens
    from kolang.analysis.probes import language_probes
    from kolang.analysis.validate import validate
    from kolang.data.discovery import records_to_texts
    from kolang.data.sentences import parallel_sentences
    from kolang.data.tasks import generate, rl_records
    from kolang.io import atomic_write_json
    from kolang.models import load_model
    from kolang.neurons.select import select_neurons
    from kolang.neurons.stats import collect_stats
    from kolang.rl.config import RLConfig
    from kolang.rl.drift import attach
    from kolang.rl.trainer import GRPOTrainer

    root = tmp_path_factory.mktemp("demo") / "run"
    torch.manual_seed(0)
    model, tok = load_model(micro_organism)
    texts, langs = records_to_texts(parallel_sentences(30, seed=0))
    ns = select_neurons(collect_stats(model, tok, texts, langs), "contrast", target="ko", reference=["en"], per_layer=8,
                        model=model)
    ns.save(root / "neurons")
    atomic_write_json(root / "validate" / "validation.json", validate(model, tok, ns, texts, langs, n_random=2))
    atomic_write_json(root / "analysis" / "logit_lens.json", logit_lens(model, tok, korean_prompts(tok, 4), k=5))
    atomic_write_json(root / "analysis" / "probes.json", language_probes(model, tok, texts, langs, tokens_per_text=4))
    cfg = RLConfig(out=str(root / "rl"), steps=4, prompts_per_step=2, group_size=3, max_completion_length=16, lr=1e-3,
                   save_every=2, threads=1, filter_groups=False, micro_batch_size=6, collapse_min_share=0.99)
    trainer = GRPOTrainer(cfg, model=model, tokenizer=tok, records=rl_records(generate(8, seed=0)))
    attach(trainer, DriftTracker(ns, *probe_set_from_tasks(4, seed=1), tok, every=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    with open(root / "rl" / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 4, "loss": 0.1')  # the torn last line of a run killed mid-write
    atomic_write_json(root / "experiment.json", {"title": "RL alone vs neuron tuning then RL", "rows": [
        {"arm": "rl", "accuracy": 0.25, "target_share": 0.31}, {"arm": "tune+rl", "accuracy": 0.5, "target_share": 0.82}],
        "curves": {"rl": {"accuracy": [0.2, 0.25], "target_share": [0.4, 0.31]},
                   "tune+rl": {"accuracy": [0.3, 0.5], "target_share": [0.7, 0.82]}}})
    records = problem_records(generate(4, seed=2), "ko") + problem_records(generate(2, seed=3), "en")
    atomic_write_json(root / "eval" / "eval.json", evaluate_model(model, tok, records, EvalConfig(
        samples=2, max_new_tokens=8, bootstrap=100)))
    return root


def figure_divs(page: str) -> list[str]:
    return re.findall(r'<div id="(fig-\d+)" class="plotly-graph-div"', page)


def test_find_artifacts_recursively_skipping_hidden_folders(run_dir, tmp_path):
    found = find_artifacts(run_dir)
    rel = {k: [p.relative_to(run_dir).as_posix() for p in v] for k, v in found.items()}
    assert rel == {"summary": [], "neurons": ["neurons/neurons.json"], "validation": ["validate/validation.json"],
                   "logit_lens": ["analysis/logit_lens.json"], "probes": ["analysis/probes.json"],
                   "metrics": ["rl/metrics.jsonl"], "drift": ["rl/drift.jsonl"], "experiment": ["experiment.json"],
                   "eval": ["eval/eval.json"]}
    (tmp_path / ".neurons.tmp").mkdir()
    (tmp_path / ".neurons.tmp" / "neurons.json").write_text("{}")
    assert not any(find_artifacts(tmp_path).values())
    with pytest.raises(RunDirError):
        find_artifacts(tmp_path / "missing")


def test_full_report(run_dir, tmp_path):
    import plotly.offline

    out = write_report(run_dir, tmp_path / "r" / "report.html")
    page = out.read_text(encoding="utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # written atomically: no temporary left
    js = plotly.offline.get_plotlyjs()
    assert page.count(js[:300]) == 1 and js in page  # plotly.js inlined exactly once
    rest = page.replace(js, "")
    assert "<script src" not in rest and "https://" not in rest  # nothing else to fetch: opens offline
    assert len(figure_divs(page)) == FIGURES_IN_FULL_RUN == len(set(figure_divs(page)))
    for section in ("neurons", "validation", "logit_lens", "probes", "metrics", "drift", "experiment", "eval"):
        assert f"<section id='{section}'>" in page
    assert "class='warn'>the last line was cut short" in page
    assert "could not read" not in page
    # The collapse monitor's alarms are listed, one row a step that raised one.
    records = read_jsonl(run_dir / "rl" / "metrics.jsonl")
    assert torn(run_dir / "rl" / "metrics.jsonl") and [r["step"] for r in records] == [0, 1, 2, 3]
    alarms = [r for r in records if r.get("collapse")]
    assert alarms and page.count("fell below") >= len(alarms)
    # The experiment table and the ablation table hold the numbers of their files.
    assert "tune+rl" in page and "0.82" in page
    assert "RL curves, mean over seeds" in page  # the per-step curves of every arm
    assert "avg@2" in page and "all · level 1" in page  # the eval table: one row a set, a level under it
    validation = json.loads((run_dir / "validate" / "validation.json").read_text())
    assert f"{validation['conditions']['none']['ko']['nll']:.4g}" in page


def test_metrics_figure_plots_each_numeric_key_over_steps(run_dir):
    records = read_jsonl(run_dir / "rl" / "metrics.jsonl")
    fig = metrics_figure(records)
    by_name = {t.name: t for t in fig.data}
    for key in ("reward", "accuracy", "target_share", "kept_fraction", "loss", "reward/language"):
        assert list(by_name[key].x) == [r["step"] for r in records]
        assert list(by_name[key].y) == [r.get(key) for r in records]
    assert [t.name for t in fig.data][:6] == ["reward", "accuracy", "target_share", "target_share_thought",
                                              "target_share_answer", "kept_fraction"]
    assert "collapse" not in by_name and "step" not in by_name  # strings and the x axis are not panels
    # One mark a panel for each run of consecutive alarms: a line for one step, a band for several.
    spans = alarm_spans([r["step"] for r in records], records)
    assert spans and len(fig.layout.shapes) == len(fig.data) * len(spans)
    assert {(s.x0, s.x1) for s in fig.layout.shapes} == set(spans)
    assert {s.xref for s in fig.layout.shapes} == {t.xaxis for t in fig.data}
    flags = [{"collapse": c} for c in (None, "a", "b", None, "c", None, "d", "e", "f")]
    assert alarm_spans(list(range(9)), flags) == [(1, 2), (4, 4), (6, 8)]


def test_partial_and_broken_runs(run_dir, tmp_path):
    only = tmp_path / "only-rl"
    shutil.copytree(run_dir / "rl", only / "rl", ignore=shutil.ignore_patterns("drift.jsonl", "checkpoints", "model"))
    page = build_report(only)
    assert len(figure_divs(page)) == 1 and "<section id='metrics'>" in page and "<section id='neurons'>" not in page
    broken = tmp_path / "broken"
    shutil.copytree(run_dir / "analysis", broken / "analysis")
    (broken / "neurons").mkdir(parents=True)
    (broken / "neurons" / "neurons.json").write_text("{not json")
    (broken / "drift.jsonl").write_text("")
    page = build_report(broken)
    assert "could not read neurons/neurons.json" in page
    assert "no drift measurements yet" in page
    assert len(figure_divs(page)) == 2  # logit lens and probes still render
    empty = build_report(tmp_path / "broken" / "neurons")
    assert "could not read" in empty


def test_experiment_rows_accept_common_shapes():
    rows = [{"arm": "a", "acc": 0.1}, {"arm": "b", "acc": 0.2}]
    assert experiment_rows(rows) == rows
    assert experiment_rows({"results": rows}) == rows
    assert experiment_rows({"rl": {"acc": 0.1, "note": "x"}, "tune": {"acc": 0.3, "n": {"ko": 2}}}) == [
        {"name": "rl", "acc": 0.1, "note": "x"}, {"name": "tune", "acc": 0.3, "n/ko": 2.0}]
    assert experiment_rows({"acc": 0.5}) == [{"acc": 0.5}]
    with pytest.raises(ValueError):
        experiment_rows("text")


def test_cli(run_dir, micro_organism, tmp_path, capsys):
    from kolang.cli import main

    main(["report", str(run_dir), "--out", str(tmp_path / "x.html")])
    assert len(figure_divs((tmp_path / "x.html").read_text(encoding="utf-8"))) == FIGURES_IN_FULL_RUN
    for bad in (tmp_path / "missing", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main(["report", str(bad)])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and err.startswith("kolang: error:") and "\n" not in err
    # --model computes the logit lens and the probes into RUN/analysis and reports them.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    main(["report", str(fresh), "--model", str(micro_organism), "--prompts", "3", "--texts", "12", "--top-k", "3"])
    lens = json.loads((fresh / "analysis" / "logit_lens.json").read_text())
    assert lens["n_prompts"] == 3 and lens["k"] == 3
    assert (fresh / "analysis" / "probes.json").is_file()
    assert len(figure_divs((fresh / "report.html").read_text(encoding="utf-8"))) == 2


# --- in a real browser ---------------------------------------------------------------------------

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
# Collects errors from the first script on, and after load writes what rendered into the DOM.
PROBE = """<script>window.__errors=[];
window.addEventListener('error',function(e){window.__errors.push(String(e.message)+' @'+e.lineno)});
window.addEventListener('unhandledrejection',function(e){window.__errors.push('unhandled rejection: '+e.reason)});
window.addEventListener('load',function(){setTimeout(function(){var figs=document.querySelectorAll('.plotly-graph-div');
var drawn=0;figs.forEach(function(f){if(f.querySelector('.main-svg .trace'))drawn++;});var p=document.createElement('pre');
p.id='__probe';p.textContent=JSON.stringify({errors:window.__errors,figures:figs.length,drawn:drawn});
document.body.appendChild(p);},300);});</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", "--hide-scrollbars"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=180)


def _render(page: str, tmp_path: Path) -> dict:
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    out = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    m = re.search(r'<pre id="__probe">([^<]*)</pre>', out.stdout)
    assert m, f"the page never finished loading; chromium said: {out.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _png(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            size = struct.unpack(">II", data[pos + 8:pos + 16])
        elif kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    return size[0], size[1], zlib.decompress(idat)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install-browser.sh installs it)")
def test_report_renders_in_a_browser(run_dir, tmp_path):
    page = build_report(run_dir)
    seen = _render(page, tmp_path)
    assert seen == {"errors": [], "figures": FIGURES_IN_FULL_RUN, "drawn": FIGURES_IN_FULL_RUN}
    # The harness itself catches a script error (so an empty list above means none happened).
    broken = "<html><head></head><body><script>undefinedFunction()</script></body></html>"
    assert any("undefinedFunction" in e for e in _render(broken, tmp_path)["errors"])
    # The screenshot has content: a blank page compresses to a handful of distinct filtered bytes.
    shot = tmp_path / "shot.png"
    (tmp_path / "report.html").write_text(page, encoding="utf-8")
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2400", (tmp_path / "report.html").as_uri())
    width, height, pixels = _png(shot)
    assert (width, height) == (1200, 2400)
    assert len(set(pixels)) > 100
