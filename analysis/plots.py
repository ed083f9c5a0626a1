"""Figures of every artifact, as plotly figures: training curves, neuron sets, ablation, drift,
logit lens, probes and experiment curves. The report (`report.py`) and the CLI's HTML files draw
them; the stages that compute the numbers never import this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

PREFERRED = ("reward", "accuracy", "target_share", "target_share_thought", "target_share_answer", "kept_fraction", "loss",
             "kl", "clip_fraction", "lr")


def flatten_numeric(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Finite numbers of a (nested) record as {"a/b": value}; booleans, strings and lists are left out."""
    out: dict[str, float] = {}
    for k, v in record.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_numeric(v, key + "/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = float(v)
    return out


def step_series(records: list[dict[str, Any]], skip: Iterable[str] = ("step",)) -> tuple[list[float], dict[str, list]]:
    """x values (the `step` key, else the line number) and, per numeric key, its values (None where absent)."""
    flat = [flatten_numeric(r) for r in records]
    xs = [flat_r.get("step", i) for i, flat_r in enumerate(flat)]
    keys = sorted({k for f in flat for k in f} - set(skip))
    keys = [k for k in PREFERRED if k in keys] + [k for k in keys if k not in PREFERRED]
    return xs, {k: [f.get(k) for f in flat] for k in keys}


def alarm_spans(xs: list[float], records: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(first, last) step of each run of consecutive records that carry a collapse-monitor alarm."""
    spans: list[tuple[float, float]] = []
    open_at = None
    for i, (x, r) in enumerate(zip(xs, records)):
        if r.get("collapse"):
            open_at = x if open_at is None else open_at
            if i + 1 == len(records) or not records[i + 1].get("collapse"):
                spans.append((open_at, x))
                open_at = None
    return spans


def moving_average(values: Sequence[float | None], window: int) -> list[float | None]:
    """Mean of the known values among the last `window` (trailing, so a point never sees later steps)."""
    out: list[float | None] = []
    for i in range(len(values)):
        known = [v for v in values[max(0, i - window + 1): i + 1] if v is not None]
        out.append(sum(known) / len(known) if known else None)
    return out


def metrics_figure(records: list[dict[str, Any]], title: str = "metrics", keys: Iterable[str] | None = None,
                   cols: int = 3, window: int = 1):
    """Small multiples, one panel per numeric key over steps; red marks span the steps of collapse-monitor alarms.
    With `window` > 1 the raw points are drawn faint under their trailing moving average."""

    xs, series = step_series(records)
    if keys is not None:
        series = {k: series[k] for k in keys if k in series}
    if not series:
        raise ValueError("no numeric values to plot")
    names = list(series)
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=min(cols, len(names)), subplot_titles=names, vertical_spacing=min(0.3, 0.6 / rows))
    for i, k in enumerate(names):
        at = dict(row=i // cols + 1, col=i % cols + 1)
        if window > 1:
            fig.add_scatter(x=xs, y=series[k], mode="markers", name=k, showlegend=False, opacity=0.35,
                            marker=dict(size=3, color="#7f7f7f"), **at)
            fig.add_scatter(x=xs, y=moving_average(series[k], window), mode="lines", name=f"{k} (mean of {window})",
                            showlegend=False, connectgaps=True, line=dict(width=2, color="#1f77b4"), **at)
        else:
            fig.add_scatter(x=xs, y=series[k], mode="lines+markers", name=k, showlegend=False, connectgaps=False,
                            marker=dict(size=4), **at)
    # Shapes are built as plain dicts and set once: plotly's add_vline re-validates the layout each call.
    shapes = []
    for first, last in alarm_spans(xs, records):
        for trace in fig.data:
            yref = ("y" + trace.yaxis[1:]) + " domain"
            if first == last:
                shapes.append(dict(type="line", x0=first, x1=first, y0=0, y1=1, xref=trace.xaxis, yref=yref,
                                   line=dict(color="crimson", dash="dash", width=1)))
            else:
                shapes.append(dict(type="rect", x0=first, x1=last, y0=0, y1=1, xref=trace.xaxis, yref=yref,
                                   fillcolor="crimson", opacity=0.12, line=dict(width=0)))
    fig.update_layout(title=title, height=max(320, 230 * rows), shapes=shapes)
    return fig


def neuron_figures(ns: Any) -> list:
    """Neurons per layer of a `NeuronSet` and, when it stores scores, their distribution (all vs selected)."""

    L = int(ns.fingerprint.get("num_layers") or (max(ns.layers()) + 1 if len(ns) else 0))
    counts = ns.counts()
    fig = go.Figure()
    fig.add_bar(x=list(range(L)), y=[counts.get(layer, 0) for layer in range(L)], name="neurons")
    fig.update_layout(title=f"{len(ns)} {ns.target or ''} neurons by layer ({ns.method})", xaxis_title="layer",
                      yaxis_title="neurons", height=340, xaxis_dtick=1 if L <= 40 else None)
    figs = [fig]
    if ns.scores is not None:
        scores = ns.scores.double()  # (L, W)
        finite = scores.isfinite()
        chosen = ns.mask() & finite
        hist = go.Figure()
        hist.add_histogram(x=scores[finite].tolist(), name="all neurons", histnorm="probability", opacity=0.6)
        hist.add_histogram(x=scores[chosen].tolist(), name="selected", histnorm="probability", opacity=0.6)
        hist.update_layout(barmode="overlay", title=f"selectivity scores ({ns.method})", xaxis_title="score",
                           yaxis_title="share of neurons", height=340)
        figs.append(hist)
    return figs


def curves_figure(curves: dict[str, dict[str, list[float]]], title: str = "RL curves, mean over seeds"):
    """One panel per measured quantity, one line per arm, over RL steps: `{arm: {quantity: [value a step]}}`."""

    keys = sorted({k for c in curves.values() for k in c})
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=keys)
    for i, arm in enumerate(curves):
        for j, k in enumerate(keys):
            ys = curves[arm].get(k, [])
            fig.add_scatter(x=list(range(1, len(ys) + 1)), y=ys, mode="lines+markers", name=arm, legendgroup=arm,
                            showlegend=j == 0, marker=dict(size=4), line=dict(color=_COLOURS[i % len(_COLOURS)]),
                            row=1, col=j + 1)
    fig.update_xaxes(title_text="RL step")
    fig.update_layout(title=title, height=380)
    return fig


def sweep_figure(points: list[dict[str, Any]]):
    """The Korean->Korean sweep of `kolang experiment`: final Korean accuracy and Korean share (avg@4, with 95%
    intervals) of each arm against the organism's inherent Korean share, one line per arm."""

    panels = (("ko_sampled_accuracy", "Korean-prompt accuracy after RL"), ("ko_sampled_korean_share",
                                                                          "Korean share of the reasoning after RL"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=[t for _, t in panels])
    arms = list(dict.fromkeys(a for p in points for a in p["arms"]))
    for i, arm in enumerate(arms):
        pts = sorted((p for p in points if arm in p["arms"]), key=lambda p: p["inherent_korean_share"] or 0.0)
        x = [p["inherent_korean_share"] for p in pts]
        for j, (key, _) in enumerate(panels):
            r = [p["arms"][arm][key] for p in pts]
            fig.add_scatter(x=x, y=[v["value"] for v in r], mode="lines+markers", name=arm, legendgroup=arm,
                            showlegend=j == 0, line=dict(color=_COLOURS[i % len(_COLOURS)]),
                            text=[f"ko->ko {p['ko_ko']:g} in training" for p in pts],
                            error_y=dict(type="data", symmetric=False, array=[v["high"] - v["value"] for v in r],
                                         arrayminus=[v["value"] - v["low"] for v in r]), row=1, col=j + 1)
    fig.update_xaxes(title_text="inherent Korean share (base model, sampled)")
    fig.update_yaxes(range=[0, 1])
    fig.update_layout(title="How much inherent Korean reasoning makes RL alone enough", height=400)
    return fig


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")


def validation_figure(result: dict[str, Any]):
    """A plotly bar chart: NLL increase per language for the set and each random control."""

    d = result["delta_nll"]
    langs = sorted(d["set"])
    fig = go.Figure()
    fig.add_bar(name="selected set", x=langs, y=[d["set"][lang] for lang in langs])
    for k, run in enumerate(d["random_runs"]):
        fig.add_bar(name=f"random matched #{k}", x=langs, y=[run[lang] for lang in langs], opacity=0.6)
    fig.update_layout(barmode="group", title=f"NLL increase when ablating {result['neurons']} neurons",
                      yaxis_title="Δ NLL (nats/token)", xaxis_title="language")
    return fig


def drift_figure(records: Sequence[Mapping[str, Any]]):
    """A plotly figure of drift over steps: IoU and rank correlation; |Δp| tracked vs other; weight deltas."""
    recs = sorted(records, key=lambda r: r["step"])
    steps = [r["step"] for r in recs]
    fig = make_subplots(rows=2, cols=2, subplot_titles=(
        "selected set vs start", "target-language activation probability shift (mean |Δp|)",
        "weight delta per neuron (RMS of L2)", "weight delta of other weights (L2)"))

    def line(key: str, name: str, row: int, col: int, dash: str | None = None) -> None:
        fig.add_trace(go.Scatter(x=steps, y=[r.get(key) for r in recs], mode="lines+markers", name=name,
                                 line=dict(dash=dash)), row=row, col=col)

    line("iou", "IoU of selected sets", 1, 1)
    line("rank_corr", "rank correlation of scores", 1, 1, "dash")
    line("dp_abs_selected", "|Δp| tracked neurons", 1, 2)
    line("dp_abs_other", "|Δp| other neurons", 1, 2, "dash")
    line("delta_selected", "Δw tracked neurons", 2, 1)
    line("delta_unselected", "Δw other neurons", 2, 1, "dash")
    line("delta_other", "Δw attention/norms (layers)", 2, 2)
    line("delta_outside_layers", "Δw embeddings/head", 2, 2, "dash")
    for col in (1, 2):
        fig.update_xaxes(title_text="step", row=2, col=col)
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_layout(title="Neuron drift", height=700)
    return fig


def logit_lens_figure(result: dict[str, Any]):
    """Plotly figure: Hangul and Latin share of the lens's top-k tokens and probability mass, by layer,
    above a grid of the top-1 token of each example prompt at each layer."""

    layers = [r["layer"] for r in result["layers"]]
    ex = result.get("examples") or []
    fig = make_subplots(rows=2 if ex else 1, cols=1, vertical_spacing=0.15, row_heights=[0.55, 0.45] if ex else None,
                        subplot_titles=[f"script of the top-{result['k']} lens tokens ({result['positions']} position)"]
                        + (["top-1 lens token, first prompts (colour: Hangul probability of top-k)"] if ex else []))
    colors = {"hangul": "#d62728", "latin": "#1f77b4", "other": "#7f7f7f"}
    for c in ("hangul", "latin"):
        fig.add_scatter(x=layers, y=[r["top_share"][c] for r in result["layers"]], name=f"{c} (top-k share)",
                        mode="lines+markers", line=dict(color=colors[c]), row=1, col=1)
        fig.add_scatter(x=layers, y=[r["prob_mass"][c] for r in result["layers"]], name=f"{c} (probability mass)",
                        mode="lines+markers", line=dict(color=colors[c], dash="dot"), row=1, col=1)
    fig.update_yaxes(title_text="share", range=[0, 1], row=1, col=1)
    fig.update_xaxes(title_text="layer", dtick=1 if len(layers) <= 40 else None, row=1, col=1)
    if ex:
        text = [[e["layers"][layer]["tokens"][0] for layer in layers] for e in ex]  # (examples, layers)
        z = [[sum(p for p, c in zip(e["layers"][layer]["probs"], e["layers"][layer]["classes"]) if c == "hangul")
              for layer in layers] for e in ex]
        fig.add_heatmap(z=z, x=[f"L{layer}" for layer in layers], y=[f"prompt {i}" for i in range(len(ex))], text=text,
                        texttemplate="%{text}", colorscale=[[0, "#e8eef7"], [1, "#e8716f"]], zmin=0, zmax=1,
                        showscale=False, row=2, col=1)
    fig.update_layout(height=620 if ex else 380, title="Logit lens on Korean prompts")
    return fig


def probes_figure(result: dict[str, Any]):
    """Plotly line chart: held-out (and training) probe accuracy by layer, against the majority baseline."""

    layers = [r["layer"] for r in result["layers"]]
    fig = go.Figure()
    fig.add_scatter(x=layers, y=[r["test_accuracy"] for r in result["layers"]], name="held-out texts",
                    mode="lines+markers")
    fig.add_scatter(x=layers, y=[r["train_accuracy"] for r in result["layers"]], name="training tokens",
                    mode="lines+markers", line=dict(dash="dot"))
    fig.add_hline(y=result["majority_baseline"], line_dash="dash", annotation_text="majority class")
    fig.update_layout(title=f"Language probe on MLP neurons ({' vs '.join(result['languages'])}, "
                            f"{result['n_train']} train / {result['n_test']} test tokens)",
                      xaxis_title="layer", yaxis_title="accuracy", yaxis_range=[0, 1.02],
                      xaxis_dtick=1 if len(layers) <= 40 else None)
    return fig


def eval_figure(result: dict[str, Any]):
    """Accuracy of each prompt set of an eval.json (greedy, avg@k, pass@k) with its 95% interval as error bars."""
    sets = result["sets"]
    names = list(sets)
    fig = go.Figure()
    k = next(iter(sets.values()))["sampled"]["k"] if sets else 0
    for label, mode, key in (("greedy", "greedy", "accuracy"), (f"avg@{k}", "sampled", "accuracy"),
                             (f"pass@{k}", "sampled", "pass@k")):
        rates = [sets[n].get(mode, {}).get(key) or {} for n in names]
        if not any(r.get("value") is not None for r in rates):
            continue
        value = [r.get("value") for r in rates]
        fig.add_bar(x=names, y=value, name=label, error_y=dict(
            type="data", symmetric=False, array=[(r["high"] - r["value"]) if r.get("value") is not None else 0 for r in rates],
            arrayminus=[(r["value"] - r["low"]) if r.get("value") is not None else 0 for r in rates]))
    fig.update_layout(barmode="group", title="accuracy by prompt set (95% bootstrap intervals)", yaxis_range=[0, 1],
                      yaxis_title="accuracy", height=380)
    return fig
