"""One self-contained HTML report of whatever a run folder holds, found by file name at any depth.

A run folder of `kolang demo` holds `neurons/`, `validate/`, `tune/`, `rl/` …; a user may point the
report at any one of them, or at a folder of their own. Each artifact is recognised by its file
name (`neurons.json`, `validation.json`, `metrics.jsonl`, `drift.jsonl`, `logit_lens.json`,
`probes.json`, `experiment.json`, `eval.json`) and rendered as its own section, so a report shows what exists
and says what could not be read. plotly.js is inlined once, so the file opens offline.
"""

from __future__ import annotations

import datetime
import html
import json
from pathlib import Path
from typing import Any

from plotly.offline import get_plotlyjs

from kolang.analysis.artifacts import ARTIFACTS, REPORT_MARK, find_artifacts, is_report
from kolang.analysis.plots import (
    curves_figure,
    drift_figure,
    eval_figure,
    flatten_numeric,
    logit_lens_figure,
    metrics_figure,
    neuron_figures,
    probes_figure,
    sweep_figure,
    validation_figure,
)
from kolang.errors import KolangError, OutputError
from kolang.io import atomic_write_text, read_jsonl, torn
from kolang.neurons.neuronset import NeuronSet

SECTION_TITLES = {
    "summary": "Result", "neurons": "Neuron sets", "validation": "Causal validation (ablation)", "logit_lens": "Logit lens",
    "probes": "Language probes", "metrics": "Training curves", "drift": "Neuron drift", "experiment": "Experiments",
    "eval": "Evaluation",
}
# Metrics shown first (and always in this order) when a run logs them: the quantities the GRPO
# stage is judged by, then the optimisation ones.
# Errors that mean "this artifact is malformed", shown in the report instead of stopping it.
UNREADABLE = (KolangError, OSError, ValueError, KeyError, TypeError, IndexError, AttributeError)


# --- finding and reading artifacts ---------------------------------------------------------------




def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- figures ------------------------------------------------------------------------------------


# --- HTML ---------------------------------------------------------------------------------------

def table_html(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """An HTML table of dict rows; floats get 4 significant digits, cells are escaped."""
    if not rows:
        return "<p class='note'>(empty)</p>"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: Any) -> str:
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, (dict, list)):
            v = json.dumps(v, ensure_ascii=False)
        return html.escape("" if v is None else str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    # a wide table scrolls in its own box rather than widening the page
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


class _Page:
    """Accumulates sections; numbers figure divs so every id in the page is unique."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.n_figs = 0

    def fig(self, fig) -> None:
        self.n_figs += 1
        height = fig.layout.height or 450
        self.parts.append(fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{self.n_figs}",
                                      default_height=f"{height}px", config={"displaylogo": False, "responsive": True}))

    def add(self, text: str) -> None:
        self.parts.append(text)

    def note(self, text: str, warn: bool = False) -> None:
        self.parts.append(f"<p class='{'warn' if warn else 'note'}'>{html.escape(text)}</p>")


def _neurons(page: _Page, path: Path) -> None:
    ns = NeuronSet.load(path.parent)
    fp = ns.fingerprint
    page.add(table_html([{"method": ns.method, "target": ns.target, "reference": ", ".join(ns.reference),
                          "neurons": len(ns), "layers": len(ns.layers()), "model": fp.get("model_type") or fp.get("family"),
                          "model layers": fp.get("num_layers"), "MLP width": fp.get("mlp_width")}]))
    for fig in neuron_figures(ns):
        page.fig(fig)


def _validation(page: _Page, path: Path) -> None:
    result = _read_json(path)
    conds, delta = result["conditions"], result["delta_nll"]
    rows = [{"language": lang, **{f"NLL {c}": conds[c][lang]["nll"] for c in conds},
             "Δ set": delta["set"][lang], "Δ random (mean)": delta["random_mean"].get(lang)}
            for lang in sorted(conds["none"])]
    page.add(table_html(rows))
    if result.get("verdict"):
        page.add(table_html([result["verdict"]]))
    page.fig(validation_figure(result))


def _logit_lens(page: _Page, path: Path) -> None:
    result = _read_json(path)
    page.note(f"{result['n_prompts']} prompts, top-{result['k']} tokens at the {result['positions']} position")
    page.fig(logit_lens_figure(result))


def _probes(page: _Page, path: Path) -> None:
    result = _read_json(path)
    page.fig(probes_figure(result))
    page.add(table_html(result["layers"]))


def _metrics(page: _Page, path: Path) -> None:
    records = read_jsonl(path)
    if torn(path):
        page.note("the last line was cut short and is skipped (a run killed mid-write leaves one)", warn=True)
    if not records:
        page.note("no metric lines yet")
        return
    page.note(f"{len(records)} steps logged")
    page.fig(metrics_figure(records, title=f"metrics of {path.parent.name}"))
    alarms = [{"step": r.get("step"), "alarm": r["collapse"]} for r in records if r.get("collapse")]
    if alarms:
        page.add("<h4>collapse monitor</h4>" + table_html(alarms))
    config = path.parent / "config.json"
    if config.is_file():
        page.add(f"<details><summary>config.json</summary><pre>{html.escape(config.read_text(encoding='utf-8'))}</pre></details>")


def _drift(page: _Page, path: Path) -> None:
    records = read_jsonl(path)
    if torn(path):
        page.note("the last line was cut short and is skipped", warn=True)
    if not records:
        page.note("no drift measurements yet")
        return
    page.fig(drift_figure(records))


def experiment_rows(data: Any) -> list[dict[str, Any]]:
    """Rows of an experiment table: a list of objects, an object holding one ("rows"/"results"/"table"/"runs"),
    an object of objects (one row per key), or else one row of the object itself."""
    if isinstance(data, list):
        return [r if isinstance(r, dict) else {"value": r} for r in data]
    if isinstance(data, dict):
        for key in ("rows", "results", "table", "runs"):
            if isinstance(data.get(key), list):
                return experiment_rows(data[key])
        if data and all(isinstance(v, dict) for v in data.values()):
            return [{"name": k, **flatten_numeric(v), **{x: y for x, y in v.items() if isinstance(y, str)}}
                    for k, v in data.items()]
        return [data]
    raise ValueError(f"an experiment table must be a JSON object or list, not {type(data).__name__}")


def _experiment(page: _Page, path: Path) -> None:
    data = _read_json(path)
    if isinstance(data, dict) and isinstance(data.get("description") or data.get("title"), str):
        page.note(data.get("title") or data["description"])
    rows = experiment_rows(data)
    # `kolang experiment` keeps each column as "mean ± sd" and as its two numbers: show the first only
    page.add(table_html([{k: v for k, v in r.items() if not (k.endswith(("_mean", "_sd")) and k.rsplit("_", 1)[0] in r)}
                         for r in rows]))
    if isinstance(data, dict) and isinstance(data.get("comparisons"), dict) and data["comparisons"]:
        page.note("Final Korean-prompt avg@4 of each arm minus the arm it is compared with: paired bootstrap 95% "
                  "intervals over (seed, problem)")
        page.add(table_html([{"arm": c.get("arm"), "versus": c.get("versus"),
                              "Δ accuracy": interval_text(c.get("ko_sampled_accuracy")),
                              "Δ Korean share": interval_text(c.get("ko_sampled_korean_share"))}
                             for c in data["comparisons"].values() if isinstance(c, dict)]))
    if isinstance(data, dict) and isinstance(data.get("curves"), dict) and data["curves"]:
        page.fig(curves_figure(data["curves"]))
    if isinstance(data, dict) and isinstance(data.get("sweep"), list) and data["sweep"]:
        page.fig(sweep_figure(data["sweep"]))


def interval_text(r: Any, digits: int = 3) -> str:
    """An interval `{value, low, high}` (a rate of eval.json, a paired difference) as "value [low, high]"."""
    if not isinstance(r, dict) or r.get("value") is None:
        return "—"
    return f"{r['value']:.{digits}f} [{r['low']:.{digits}f}, {r['high']:.{digits}f}]"


def eval_rows(sets: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """One table row a prompt set of eval.json (and a row a level or subject under it)."""
    rows = []
    for name, s in sets.items():
        g, k = s.get("greedy", {}), s["sampled"]
        rows.append({"set": prefix + name, "n": s["n"], "greedy accuracy": interval_text(g.get("accuracy")),
                     f"avg@{k['k']}": interval_text(k["accuracy"]), f"pass@{k['k']}": interval_text(k["pass@k"]),
                     "thought share": interval_text(k["target_share_thought"]), "answer share": interval_text(k["target_share_answer"]),
                     "tokens": interval_text(k["tokens"]), "truncated": interval_text(k["truncation_rate"]),
                     "thought closed": interval_text(k["thought_closed_rate"])})
        for key in ("by_level", "by_subject"):
            rows += eval_rows(s.get(key, {}), f"{prefix}{name} · {key[3:]} ")
    return rows


def _eval(page: _Page, path: Path) -> None:
    result = _read_json(path)
    cfg = result.get("config", {})
    page.note(f"{result.get('model', '?')} on {result.get('data', '?')}: {result['n']} problems; {cfg.get('samples')} "
              f"samples at temperature {cfg.get('temperature')}; {result['target']} share measured by "
              f"{result['language_path']} (sampled completions); 95% bootstrap intervals over problems")
    page.add(table_html(eval_rows(result["sets"])))
    page.fig(eval_figure(result))


# The summary's evaluation table: (column, row key) for each prompt language.
SUMMARY_COLUMNS = (("greedy", "accuracy"), ("avg@4", "sampled_accuracy"), ("pass@4", "pass_at_k"),
                   ("Korean share (greedy)", "korean_share"), ("Korean share (sampled)", "sampled_korean_share"))


def row_interval(row: dict[str, Any], key: str, bound_digits: int = 3, digits: int = 3) -> str:
    """`row[key]` of an evaluation row with its `<key>_ci` bounds, as "0.512 [0.470, 0.550]" ("—" when unknown)."""
    v, ci = row.get(key), row.get(f"{key}_ci") or [None, None]
    if v is None:
        return "—"
    return f"{v:.{digits}f}" + (f" [{ci[0]:.{bound_digits}f}, {ci[1]:.{bound_digits}f}]" if None not in ci else "")


def _summary(page: _Page, path: Path) -> None:
    """A demo's result first: its checks, the evaluation table with intervals, drift at the end, smoothed RL curves."""
    data = _read_json(path)
    checks = data["checks"]
    org = data.get("organism") or {}
    if org:
        page.note(f"model organism v{org.get('version')} ({org.get('size')}, seed {org.get('seed')}, "
                  f"{org.get('parameters') or 0:,} parameters)")
    items = "".join(f"<li class='{'pass' if c['passed'] else 'fail'}'><b>{'PASSED' if c['passed'] else 'FAILED'}</b> "
                    f"{html.escape(c['check'])}: {html.escape(str(c['measured']))}</li>" for c in checks.values())
    page.add(f"<ul class='checks'>{items}</ul>")
    rows = []
    for r in data.get("evaluations", []):
        for lang in ("ko", "en"):
            if f"{lang}_accuracy" in r:
                rows.append({"model": r["model"], "prompts": lang, "n": r.get(f"{lang}_n"),
                             **{col: row_interval(r, f"{lang}_{key}") for col, key in SUMMARY_COLUMNS}})
    page.note("held-out problems, greedy and 4 samples at temperature 1; 95% bootstrap intervals over problems")
    page.add(table_html(rows))
    drift = path.parent / "rl" / "drift.jsonl"
    last = read_jsonl(drift)[-1:] if drift.is_file() else []
    if last:
        page.note("drift of the Korean set at the end of RL: " + ", ".join(
            f"{k} {last[0][k]:.3f}" for k in ("iou", "rank_corr", "dp_abs_selected", "dp_abs_other") if isinstance(last[0].get(k), float)))
    metrics = path.parent / "rl" / "metrics.jsonl"
    records = read_jsonl(metrics) if metrics.is_file() else []
    if records:
        window = max(5, len(records) // 20)
        # KL is 0 throughout without a KL penalty (--beta 0, the default): show the completions' length instead
        last = "kl" if any(r.get("kl") for r in records) else "completion_length"
        page.fig(metrics_figure(records, title=f"GRPO: raw points and their moving average over {window} steps",
                                keys=("reward", "accuracy", "target_share_thought", last), cols=4, window=window))


# In the report's order: a run's result first (a demo's summary, an experiment's tables and sweep).
RENDERERS = {"summary": _summary, "experiment": _experiment, "neurons": _neurons, "validation": _validation,
             "logit_lens": _logit_lens, "probes": _probes, "metrics": _metrics, "drift": _drift, "eval": _eval}

STYLE_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}
h3{color:#444;font-family:ui-monospace,monospace;font-size:1rem;margin-top:1.5rem}
div.wide{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem} th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
.note{color:#555} .checks{list-style:none;padding-left:0} .checks li{padding:.3rem .6rem;margin:.2rem 0;border-radius:4px}
.pass{background:#eaf7ea} .fail{background:#fde8e8;color:#900} .warn{color:#a40;background:#fff4e5;padding:.4rem .6rem;border-radius:4px}
pre{background:#f7f7f7;padding:.6rem;overflow:auto;max-height:24rem;font-size:.8rem} nav a{margin-right:1rem}
"""


def build_report(root: str | Path, title: str | None = None) -> str:
    """The report of every artifact under `root`, as one HTML page with plotly.js inlined."""
    root = Path(root)
    found = find_artifacts(root)
    page = _Page()
    present = [k for k in RENDERERS if found[k]]
    title = title or f"kolang report — {root.resolve().name}"
    if not present:
        page.note(f"No kolang artifacts found under {root} (looked for {', '.join(ARTIFACTS)}).", warn=True)
    for kind in present:
        page.add(f"<section id='{kind}'><h2>{html.escape(SECTION_TITLES[kind])}</h2>")
        for path in found[kind]:
            rel = path.parent.relative_to(root).as_posix()
            page.add(f"<h3>{html.escape(rel if rel != '.' else root.resolve().name)}/{html.escape(path.name)}</h3>")
            try:
                RENDERERS[kind](page, path)
            except UNREADABLE as e:
                page.note(f"could not read {path.relative_to(root).as_posix()}: {type(e).__name__}: {e}", warn=True)
        page.add("</section>")
    nav = "".join(f"<a href='#{k}'>{html.escape(SECTION_TITLES[k])}</a>" for k in present)
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"{REPORT_MARK}<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{STYLE_CSS}</style>\n<script type='text/javascript'>{get_plotlyjs()}</script>\n</head><body>"
            f"<h1>{html.escape(title)}</h1><p class='note'>{html.escape(str(root.resolve()))} · {stamp} · "
            f"{page.n_figs} figures</p><nav>{nav}</nav>\n" + "\n".join(page.parts) + "\n</body></html>\n")


def write_report(root: str | Path, out: str | Path | None = None, title: str | None = None) -> Path:
    """Write `build_report(root)` atomically to `out` (default `<root>/report.html`) and return its path."""
    out = Path(out) if out is not None else Path(root) / "report.html"
    if out.exists() and not is_report(out):
        raise OutputError(f"{out} exists and is not a kolang report; it is left untouched (choose another --out)")
    atomic_write_text(out, build_report(root, title))
    return out
