"""Write the notebooks of this folder from the cell sources below (run: `python notebooks/build.py`).

Notebooks are generated, without outputs, so that they diff as plain code and hold no logic of
their own: every cell calls kolang and plots. Each runs on the bundled model organism, or on any
local Hugging Face model directory named by `KOLANG_NOTEBOOK_MODEL` (or the `MODEL` variable at
the top of the notebook).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''
import os

# Any local Hugging Face model directory; empty means kolang's bundled model organism (trained once, cached).
MODEL = os.environ.get("KOLANG_NOTEBOOK_MODEL", "")
# A NeuronSet directory written by `kolang discover`; empty means: discover the Korean neurons here.
NEURONS = os.environ.get("KOLANG_NOTEBOOK_NEURONS", "")
# Selection method when discovering here: "contrast" (Korean vs English activation probability, always
# yields per_layer neurons), "lape" (Tang et al., ACL 2024) or "ap" (Kojima et al., NAACL 2024).
METHOD = "contrast"
DEVICE = None  # "cuda", "cpu" … (None: CUDA when present)

from pathlib import Path

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio
import torch
from IPython.display import display

# Figures as plotly's mime bundle (Jupyter) and as HTML with plotly.js inlined, so an HTML export
# (jupyter nbconvert --to html) shows them offline too.
pio.renderers.default = "plotly_mimetype+notebook"

from kolang.models import load_model, set_threads
from kolang.pipeline.organism import build as build_organism

set_threads()  # one thread per core, or $KOLANG_THREADS
model_dir = MODEL or build_organism("full")
model, tok = load_model(model_dir, device=DEVICE)
print(f"{model_dir}: {type(model).__name__}, {model.config.num_hidden_layers} layers")
'''

NEURON_SET = '''
from kolang.data.discovery import records_to_texts
from kolang.data.tasks import discovery_records, generate
from kolang.neurons.neuronset import NeuronSet
from kolang.neurons.select import select_neurons
from kolang.neurons.stats import collect_stats

if NEURONS:
    ko = NeuronSet.load(NEURONS, model=model)
else:  # on 200 word problems with their solutions, in Korean and in English: what the organism models (on
    # bundled sentences it models poorly, the set found does not behave as a language set); METHOD: lape, ap
    texts, langs = records_to_texts(discovery_records(generate(200, seed=0, held_out=False)))
    stats = collect_stats(model, tok, texts, langs)
    ko = select_neurons(stats, METHOD, target="ko", reference=["en"], per_layer=32, model=model,
                        **({"quantity": "prob"} if METHOD == "contrast" else {}))
print(ko, ko.counts())
'''

ACTIVATIONS = [
    ("md", '''
# Korean neurons: activations

Which MLP neurons of a decoder model carry Korean, and what they do on a sentence you type. A
*neuron* is hidden unit *i* of a layer's MLP; its value is the input to the down projection
(TransformerLens's `hook_post`). The last section reads the same values through **nnsight** and
through **TransformerLens** `TransformerBridge`, using the hook sites the kolang `NeuronSet` names.

Set `MODEL` in the first cell to a local model directory to run on your own model.
'''),
    ("code", SETUP),
    ("code", NEURON_SET),
    ("md", "## Neurons per layer and their selectivity"),
    ("code", '''
from kolang.analysis.plots import neuron_figures

for fig in neuron_figures(ko):
    fig.show()
'''),
    ("code", '''
# Per layer: mean LAPE activation probability P(act(gate) > 0) of the set's neurons vs all neurons, by language.
if ko.stats is not None:
    prob = ko.stats.prob()  # (layers, languages, width)
    mask = ko.mask()  # (layers, width)
    layers = list(range(prob.shape[0]))
    fig = go.Figure()
    for g, lang in enumerate(ko.stats.languages):
        fig.add_scatter(x=layers, y=[float(prob[l, g][mask[l]].mean()) if mask[l].any() else None for l in layers],
                        name=f"{lang}: Korean set", mode="lines+markers")
        fig.add_scatter(x=layers, y=[float(prob[l, g].mean()) for l in layers], name=f"{lang}: all neurons",
                        mode="lines+markers", line=dict(dash="dot"))
    fig.update_layout(title="activation probability by layer", xaxis_title="layer", yaxis_title="P(active)",
                      xaxis_dtick=1, height=380)
    fig.show()
'''),
    ("md", "## Token × neuron heatmap\n\nType Korean, English or both; pick a layer."),
    ("code", '''
from kolang.analysis.probes import token_values


def heatmap(text: str, layer: int):
    tokens, values = token_values(model, tok, text, ko)
    v = values[layer]  # (tokens, Korean neurons of this layer)
    fig = go.Figure(go.Heatmap(z=v.T.numpy(), x=[f"{i}:{t}" for i, t in enumerate(tokens)],
                               y=[f"n{int(n)}" for n in ko.neurons[layer]], colorscale="RdBu_r", zmid=0))
    fig.update_layout(title=f"layer {layer}: values of the {v.shape[1]} Korean neurons", xaxis_title="token",
                      yaxis_title="neuron", height=max(300, 14 * v.shape[1] + 150))
    fig.show()


widgets.interact(heatmap, text=widgets.Text(value="오늘 날씨가 맑습니다. The weather is sunny today.",
                                            layout=widgets.Layout(width="80%")),
                 layer=widgets.Dropdown(options=ko.layers(), value=ko.layers()[-1]));
'''),
    ("md", '''
## The same neurons through nnsight and TransformerLens

`ko.nnsight_paths(model)` names the module whose `.input` is the neuron value in an nnsight trace;
`ko.tl_hook_names()` names the `hook_post` of each layer in a TransformerLens `TransformerBridge`.
All three captures read the same token ids and must agree.
'''),
    ("code", '''
import copy

from nnsight import LanguageModel

TEXT = "오늘 날씨가 맑습니다. The weather is sunny today."
ids = tok(TEXT, return_tensors="pt")["input_ids"].to(model.device)
lm = LanguageModel(model, tokenizer=copy.deepcopy(tok))  # nnsight changes the tokenizer's padding side
paths = ko.nnsight_paths(model)
nn_values = {}
with lm.trace({"input_ids": ids, "attention_mask": torch.ones_like(ids)}):
    for layer, path in paths.items():
        nn_values[layer] = lm.get(path).input.save()
paths
'''),
    ("code", '''
from transformer_lens.model_bridge import TransformerBridge

# The bridge rewires the model it is given, so it gets copies.
bridge = TransformerBridge.boot_transformers(str(model_dir), hf_model=copy.deepcopy(model), tokenizer=copy.deepcopy(tok))
hooks = ko.tl_hook_names()
_, cache = bridge.run_with_cache(ids, names_filter=lambda name: name in hooks.values())
hooks
'''),
    ("code", '''
import pandas as pd

tokens, kolang_values = token_values(model, tok, TEXT, ko)
rows = []
for layer, idx in ko.neurons.items():
    mine = kolang_values[layer]  # (tokens, k)
    via_nnsight = nn_values[layer][0][:, idx].detach().float().cpu()
    via_tl = cache[hooks[layer]][0][:, idx].detach().float().cpu()
    rows.append({"layer": layer, "neurons": len(idx), "nnsight site": paths[layer], "TransformerLens hook": hooks[layer],
                 "max |kolang − nnsight|": float((mine - via_nnsight).abs().max()),
                 "max |kolang − TransformerLens|": float((mine - via_tl).abs().max())})
agreement = pd.DataFrame(rows)
display(agreement)
assert (agreement[["max |kolang − nnsight|", "max |kolang − TransformerLens|"]] < 1e-3).all().all()
'''),
]

INTERVENTIONS = [
    ("md", '''
# Korean neurons: interventions

Ablate, damp, amplify or pin the Korean neurons while the model answers Korean word problems, and
measure what changes: the Korean share of its reasoning and its accuracy, over 100 held-out
problems, each with a bootstrap 95% interval. Each intervention is a context manager
(`kolang.neurons.intervene`) that edits the neuron values in the selected columns only and restores
the model on exit; `kolang.analysis.interventions.measure_interventions` runs them all. The same
measurement runs on the base model and on a model whose Korean neurons were tuned (`kolang tune`):
the language of the reasoning may live in those neurons in one and not in the other.
'''),
    ("code", SETUP),
    ("code", NEURON_SET),
    ("code", '''
from kolang.analysis.config import EvalConfig
from kolang.analysis.evaluate import problem_records
from kolang.analysis.interventions import INTERVENTIONS, measure_interventions
from kolang.data.tasks import generate

N_PROBLEMS = 100
records = problem_records(generate(N_PROBLEMS, seed=3, held_out=True), "ko")  # never trained on
# greedy, and one sample at temperature 1 (where a small change of the neurons can still show)
cfg = EvalConfig(target="ko", samples=1, temperature=1.0, top_p=1.0, max_new_tokens=64, bootstrap=1000)
results = {"base": measure_interventions(model, tok, ko, records, cfg)}
'''),
    ("code", '''
import tempfile

# A model with the Korean neurons of its early layers tuned on Korean solutions: `KOLANG_NOTEBOOK_TUNED`
# (e.g. the demo's tune/merged folder), or tuned here in a few seconds.
TUNED = os.environ.get("KOLANG_NOTEBOOK_TUNED", "")
if not TUNED:
    from kolang.data.io import write_jsonl
    from kolang.data.tasks import sft_records
    from kolang.tuning.config import TuneConfig
    from kolang.tuning.sft import default_layers, tune

    work = Path(tempfile.mkdtemp())
    write_jsonl(work / "sft.jsonl", sft_records(generate(400, seed=7, held_out=False), "ko", "ko"))
    early = default_layers(model.config.num_hidden_layers)
    ko.restrict(early).save(work / "neurons")
    TUNED = tune(TuneConfig(model=str(model_dir), data=str(work / "sft.jsonl"), out=str(work / "tune"),
                            neurons=str(work / "neurons"), layers=f"0:{len(early)}", steps=100, batch_size=16,
                            lr=1e-3, merge=True))["merged"]
tuned, tuned_tok = load_model(TUNED, device=DEVICE)
results["tuned"] = measure_interventions(tuned, tuned_tok, ko, records, cfg)
'''),
    ("code", '''
import pandas as pd
from plotly.subplots import make_subplots

from kolang.analysis.interventions import interventions_table, moved_language

display(pd.DataFrame(interventions_table(results)))
fig = make_subplots(rows=1, cols=2, subplot_titles=("Korean share of the reasoning (greedy)", "accuracy (greedy)"))
for m, r in results.items():
    cond = r["conditions"]
    for col, q in ((1, "target_share"), (2, "accuracy")):
        v = [cond[n]["greedy"][q] for n in INTERVENTIONS]
        fig.add_bar(x=list(INTERVENTIONS), y=[x["value"] or 0 for x in v], name=m, legendgroup=m, showlegend=col == 1,
                    error_y=dict(type="data", symmetric=False, array=[(x["high"] or 0) - (x["value"] or 0) for x in v],
                                 arrayminus=[(x["value"] or 0) - (x["low"] or 0) for x in v]), row=1, col=col)
fig.update_layout(barmode="group", height=420, title=f"{N_PROBLEMS} Korean problems, 95% intervals")
fig.update_yaxes(range=[0, 1.05])
fig.show()
'''),
    ("code", '''
# The finding, whichever way it falls: does any intervention move the language of the reasoning?
for m, r in results.items():
    none, moved = r["conditions"]["none"]["greedy"]["target_share"], moved_language(r)
    print(f"{m}: Korean share {none['value'] or 0:.2f} without intervention; "
          + (f"moved outside its interval by: {', '.join(moved)}" if moved else
             "no intervention moved it outside its interval: in this model the language of the reasoning does "
             "not live in these neurons alone"))
'''),
    ("md", "## Try it: pick an intervention and a strength"),
    ("code", '''
from contextlib import nullcontext

from kolang.analysis.evaluate import generate_completions
from kolang.analysis.language import language_ratio
from kolang.neurons.intervene import ablate, scale, set_neurons


def intervene(question: str, mode: str, value: float, on: str):
    m, t = (model, tok) if on == "base" else (tuned, tuned_tok)
    ctx = {"none": lambda: nullcontext(), "ablate": lambda: ablate(m, ko), "scale": lambda: scale(m, ko, value),
           "set": lambda: set_neurons(m, ko, value)}[mode]
    with ctx():
        text = generate_completions(m, t, [question], max_new_tokens=64)[0]
    share = language_ratio(text, "ko")
    print(f"[{on}, {mode} {value:g}] Korean share: {'—' if share is None else f'{share:.2f}'}\\n{text}")


widgets.interact(intervene, question=widgets.Text(value=records[0]["prompt"], layout=widgets.Layout(width="80%")),
                 mode=widgets.Dropdown(options=["none", "ablate", "scale", "set"], value="scale"),
                 value=widgets.FloatSlider(value=4.0, min=-4.0, max=8.0, step=0.5),
                 on=widgets.Dropdown(options=["base", "tuned"], value="tuned"));
'''),
]

DRIFT = [
    ("md", '''
# Neuron drift and collapse during RL

Load a run folder (`kolang rl --out RUN`, or the folder of `kolang demo`) and explore how the
Korean neurons drift from where training started (`drift.jsonl`) next to the run's reward,
accuracy and target-language share (`metrics.jsonl`). Dashed red lines mark the steps where the
collapse monitor raised an alarm. With no run folder, the next cells make a tiny one (a few GRPO
steps with drift tracking) on the model organism or on `MODEL`.
'''),
    ("code", '''
import os

RUN = os.environ.get("KOLANG_NOTEBOOK_RUN", "")  # a run folder; empty: make a tiny one below
MODEL = os.environ.get("KOLANG_NOTEBOOK_MODEL", "")  # only used to make the tiny run; empty: the model organism

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display
from plotly.subplots import make_subplots
'''),
    ("code", '''
if not RUN:
    import tempfile
    import warnings

    from kolang.analysis.drift import DriftTracker, probe_set_from_tasks
    from kolang.data.tasks import generate, rl_records
    from kolang.models import load_model, set_threads
    from kolang.neurons.select import select_neurons
    from kolang.neurons.stats import collect_stats
    from kolang.pipeline.organism import build as build_organism
    from kolang.rl.config import RLConfig
    from kolang.rl.drift import attach
    from kolang.rl.trainer import GRPOTrainer

    set_threads()
    model, tok = load_model(MODEL or build_organism("full"))
    texts, langs = probe_set_from_tasks(32)
    ko = select_neurons(collect_stats(model, tok, texts, langs), "contrast", target="ko", reference=["en"],
                        per_layer=32, model=model, quantity="prob")
    RUN = tempfile.mkdtemp(prefix="kolang-drift-")
    cfg = RLConfig(out=f"{RUN}/rl", steps=6, prompts_per_step=2, group_size=4, max_completion_length=32, lr=1e-3,
                   save_every=3, filter_groups=False, collapse_min_share=0.5)
    trainer = GRPOTrainer(cfg, model=model, tokenizer=tok, records=rl_records(generate(32, seed=0)))
    attach(trainer, DriftTracker(ko, *probe_set_from_tasks(8, seed=1), tok, every=2))
    with warnings.catch_warnings():  # the collapse monitor's alarms are shown with the curves below
        warnings.simplefilter("ignore")
        trainer.train()
print(RUN)
'''),
    ("code", '''
from kolang.analysis.plots import metrics_figure, step_series
from kolang.analysis.artifacts import find_artifacts
from kolang.io import read_jsonl

found = find_artifacts(RUN)
runs = sorted({p.parent for p in found["metrics"]} | {p.parent for p in found["drift"]})
assert runs, f"no metrics.jsonl or drift.jsonl under {RUN}"


def load(run):
    metrics = read_jsonl(run / "metrics.jsonl") if (run / "metrics.jsonl").is_file() else []
    drift = read_jsonl(run / "drift.jsonl") if (run / "drift.jsonl").is_file() else []
    return metrics, drift


run_choices = [(str(r.relative_to(RUN)), r) for r in runs]
print(f"{len(runs)} run(s) under {RUN}: " + ", ".join(name for name, _ in run_choices))
'''),
    ("md", "## Training curves and drift"),
    ("code", '''
from kolang.analysis.plots import drift_figure


def curves(run):
    metrics, drift = load(run)
    if metrics:
        metrics_figure(metrics, title=f"metrics of {run.name}").show()
        alarms = [(r.get("step"), r["collapse"]) for r in metrics if r.get("collapse")]
        print(f"{len(alarms)} collapse alarm(s)" + "".join(f"\\n  step {s}: {a}" for s, a in alarms[:10]))
    if drift:
        drift_figure(drift).show()


for run in runs:
    curves(run)
'''),
    ("md", "## Collapse against drift\n\nOverlay any training metric with any drift measure over steps."),
    ("code", '''
def overlay(run, metric: str, drift_key: str):
    metrics, drift = load(run)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    mx, ms = step_series(metrics)
    dx, ds = step_series(drift)
    if metric in ms:
        fig.add_scatter(x=mx, y=ms[metric], name=metric, mode="lines+markers", secondary_y=False)
    if drift_key in ds:
        fig.add_scatter(x=dx, y=ds[drift_key], name=drift_key, mode="lines+markers", secondary_y=True)
    for r in metrics:
        if r.get("collapse"):
            fig.add_vline(x=r["step"], line_dash="dash", line_color="crimson")
    fig.update_layout(title=f"{metric} vs {drift_key}", xaxis_title="step", height=400)
    fig.update_yaxes(title_text=metric, secondary_y=False)
    fig.update_yaxes(title_text=drift_key, secondary_y=True)
    fig.show()


metrics0, drift0 = load(runs[0])
metric_keys = list(step_series(metrics0)[1]) or ["target_share"]
drift_keys = [k for k in step_series(drift0)[1] if "/" not in k] or ["iou"]
widgets.interact(overlay, run=widgets.fixed(runs[0]),
                 metric=widgets.Dropdown(options=metric_keys, value="target_share" if "target_share" in metric_keys else metric_keys[0]),
                 drift_key=widgets.Dropdown(options=drift_keys, value="iou" if "iou" in drift_keys else drift_keys[0]));
'''),
    ("md", "## Per layer, at one measurement"),
    ("code", '''
per_layer_keys = sorted({k for r in drift0 for k, v in r.items() if k.endswith("_per_layer") and isinstance(v, dict)})


def by_layer(step_index: int, key: str):
    rec = drift0[step_index]
    values = rec.get(key) or {}
    fig = go.Figure(go.Bar(x=[f"L{l}" for l in values], y=list(values.values())))
    fig.update_layout(title=f"{key} at step {rec.get('step')}", xaxis_title="layer", height=340)
    fig.show()


if drift0 and per_layer_keys:
    widgets.interact(by_layer, step_index=widgets.IntSlider(value=len(drift0) - 1, min=0, max=len(drift0) - 1),
                     key=widgets.Dropdown(options=per_layer_keys))
'''),
]

NOTEBOOKS = {"01_activations": ACTIVATIONS, "02_interventions": INTERVENTIONS, "03_drift": DRIFT}


def make(cells: list[tuple[str, str]], stem: str) -> nbformat.NotebookNode:
    """A notebook of (kind, source) cells, with stable cell ids so regenerating it changes nothing."""
    nb = new_notebook()
    for i, (kind, src) in enumerate(cells):
        src = textwrap.dedent(src).strip("\n")
        cell = new_markdown_cell(src) if kind == "md" else new_code_cell(src)
        cell["id"] = f"{stem}-{i:02d}"
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(out_dir: Path = HERE) -> list[Path]:
    """Write every notebook into `out_dir` and return their paths."""
    from kolang.io import atomic_write_text

    paths = []
    for stem, cells in NOTEBOOKS.items():
        nb = make(cells, stem)
        nbformat.validate(nb)
        path = out_dir / f"{stem}.ipynb"
        atomic_write_text(path, nbformat.writes(nb) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)
