"""Write the README's result tables from the files the code wrote, so no number in it is typed by hand.

Each block of README.md between `<!-- results:NAME -->` and `<!-- /results:NAME -->` is the output of
the renderer NAME below, reading a committed results file (the shipped organism's card.json,
results/demo/summary.json, results/experiment/experiment.json, results/benchmarks/*.json).

    python scripts/readme.py          # rewrite the blocks
    python scripts/readme.py --check  # exit 1 when a block is out of date (the tests run this)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "results"
BLOCK = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)

Renderer = Callable[[], str]
RENDERERS: dict[str, Renderer] = {}


def renderer(name: str) -> Callable[[Renderer], Renderer]:
    """Register a function as the renderer of README block `name`."""
    def register(fn: Renderer) -> Renderer:
        RENDERERS[name] = fn
        return fn
    return register


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def fmt(x: object, digits: int = 3) -> str:
    """A number as the tables print it; None as an em dash."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def interval(v: dict | float | None, digits: int = 3) -> str:
    """`0.512 [0.47, 0.55]` from an `{"value", "low", "high"}` interval (or a plain number)."""
    if isinstance(v, dict):
        return f"{fmt(v.get('value'), digits)} [{fmt(v.get('low'), digits)}, {fmt(v.get('high'), digits)}]"
    return fmt(v, digits)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


SHIPPED_CARD = ROOT / "kolang" / "organism" / "shipped" / "card.json"
DEMO = RESULTS / "demo" / "summary.json"


def ci(v: float | None, bounds: list | None, digits: int = 3) -> str:
    """`0.512 [0.470, 0.550]` from a value and its [low, high]."""
    if v is None:
        return "—"
    if not bounds or None in bounds:
        return fmt(v, digits)
    return f"{fmt(v, digits)} [{fmt(bounds[0], digits)}, {fmt(bounds[1], digits)}]"


@renderer("organism")
def organism_card() -> str:
    """The shipped organism's held-out accuracy by level and its Korean share, with intervals."""
    card = read(SHIPPED_CARD)
    meas = card["measurements"]
    levels = sorted({lv for m in meas.values() for lv in m["accuracy_by_level"]})
    names = {"en_prompts_greedy": "English, greedy", "ko_prompts_greedy": "Korean, greedy",
             "ko_prompts_t1": "Korean, sampled T=1 (avg@4)"}
    rows = [[names.get(k, k), ci(m["accuracy"], m.get("accuracy_interval")),
             *[ci(m["accuracy_by_level"][lv], m.get("accuracy_by_level_interval", {}).get(lv), 2) for lv in levels],
             ci(m["korean_share"], m.get("korean_share_interval"))] for k, m in meas.items()]
    n = next(iter(meas.values()))["n"]
    out = (f"Shipped organism v{card['version']} (seed {card['seed']}, {card['parameters']:,} parameters), "
           f"{n} held-out problems a prompt language, {n // len(levels)} a level; 95% bootstrap intervals:\n\n")
    out += table(["prompts", "accuracy", *[f"level {lv}" for lv in levels], "Korean share of the reasoning"], rows)
    out += ("\nLevel 4 by its product, times table / three-digit by two-digit: " + "; ".join(
        f"{names.get(k, k)} {fmt(m['accuracy_level4_by_product']['times table'], 2)} / "
        f"{fmt(m['accuracy_level4_by_product']['hard'], 2)}" for k, m in meas.items()) + ".\n")
    kn = card["korean_neurons"]
    pairs, drills = list(kn["reasoning_nll"]), sorted(kn["drill_nll"], reverse=True)  # Korean first
    krows = [["none (NLL, nats/token)", *[fmt(kn["reasoning_nll"][k]) for k in pairs],
              *[fmt(kn["drill_nll"][k]) for k in drills]],
             [f"its {kn['neurons']} Korean neurons ({kn['method']})", *[f"{kn['delta_ablated'][k]:+.3f}" for k in pairs],
              *[f"{kn['delta_ablated_drills'][k]:+.3f}" for k in drills]]]
    krows += [[f"random set {i}", *[f"{r[k]:+.3f}" for k in pairs], *[f"{d[k]:+.3f}" for k in drills]]
              for i, (r, d) in enumerate(zip(kn["delta_random"], kn["delta_random_drills"]))]
    out += ("\nReasoning NLL (question language -> reasoning language; the organism never wrote Korean reasoning) "
            "and the NLL of arithmetic drills in each language (text it was trained to write in both), and their "
            "rise under ablation:\n\n")
    out += table(["ablated", *pairs, *drills], krows)
    iv = kn.get("interventions")
    if iv:
        rows = [[name, *[interval(modes[mode][q], 2) for mode in ("greedy", "sampled") for q in ("accuracy", "target_share")]]
                for name, modes in iv["conditions"].items()]
        moved = iv["moved_language"]
        out += (f"\nEach intervention on the set, over {iv['n']} held-out questions asked in Korean (sampled: 4 at "
                f"T=1); interventions that move the Korean share outside the unedited model's interval: greedy "
                f"{', '.join(moved['greedy']) or 'none'}; sampled {', '.join(moved['sampled']) or 'none'}:\n\n")
        out += table(["intervention", "greedy accuracy", "greedy Korean share", "sampled accuracy",
                      "sampled Korean share"], rows)
    return out


@renderer("demo")
def demo_summary() -> str:
    """The demo's checks and its held-out evaluation table, from results/demo/summary.json."""
    data = read(DEMO)
    out = "".join(f"- **{'passed' if c['passed'] else 'FAILED'}**: {c['check']} ({c['measured']})\n"
                  for c in data["checks"].values())
    rows = []
    for r in data["evaluations"]:
        for lang in ("ko", "en"):
            rows.append([r["model"], lang, ci(r[f"{lang}_accuracy"], r.get(f"{lang}_accuracy_ci")),
                         ci(r[f"{lang}_sampled_accuracy"], r.get(f"{lang}_sampled_accuracy_ci")),
                         ci(r[f"{lang}_sampled_korean_share"], r.get(f"{lang}_sampled_korean_share_ci"))])
    stages = {k: v for k, v in data.get("stages", {}).items() if v is not None}
    out += (f"\nThe stages took {sum(stages.values()):.0f} s in all (GRPO {stages.get('rl', 0):.0f} s, "
            f"{data['config']['rl_steps']} steps; tuning {stages.get('tune', 0):.0f} s; each evaluation "
            f"{min(v for k, v in stages.items() if k.startswith('eval')):.0f}–"
            f"{max(v for k, v in stages.items() if k.startswith('eval')):.0f} s) on 2 CPU cores.\n") if stages else ""
    n = data["evaluations"][0].get("ko_n") if data["evaluations"] else 0
    out += (f"\n{n} held-out problems a language; greedy, and 4 samples at temperature 1; 95% bootstrap "
            "intervals over problems:\n\n")
    return out + table(["model", "prompts", "greedy accuracy", "avg@4", "Korean share (sampled)"], rows)


RERUNS = RESULTS / "demo" / "reruns"


@renderer("demo-reruns")
def demo_reruns() -> str:
    """The same demo run elsewhere (results/demo/reruns/NAME.json, another machine or thread count): each row's
    figures beside the committed run's, and whether they fall inside its intervals."""
    main = {r["model"]: r for r in read(DEMO)["evaluations"]}
    rows = []
    for path in sorted(RERUNS.glob("*.json")):
        data = read(path)
        for r in data["evaluations"]:
            ref = main.get(r["model"])
            for key, label in (("ko_accuracy", "greedy"), ("ko_sampled_accuracy", "avg@4"),
                               ("ko_sampled_korean_share", "Korean share")):
                low, high = ref.get(f"{key}_ci") or (None, None)
                where = ("equal" if r[key] == ref[key] else "inside" if low is not None and low <= r[key] <= high
                         else "**outside**")
                rows.append([path.stem, r["model"], label, fmt(r[key]), ci(ref[key], [low, high]), where])
    return table(["rerun", "model", "Korean prompts", "rerun", "committed run [interval]", ""], rows)


DEMO_ARM = "ko_neurons_early+rl"  # the experiment's arm that runs the demo's recipe (its seed is the run's seed)


@renderer("demo-seeds")
def demo_seeds() -> str:
    """The demo's recipe under the experiment's seeds: whether the run of the demo's seed equals the committed demo,
    how far the tuned and RL rows move between seeds, and whether each rerun falls inside that range."""
    demo = read(DEMO)
    exp = read(EXPERIMENT)
    theirs = exp.get("organism") or {}
    if theirs.get("sha256") != demo["organism"]["sha256"]:  # seeds of another organism say nothing of this demo
        return (f"The committed experiment ran on another organism (v{theirs.get('version', '?')}) than this demo "
                f"(v{demo['organism']['version']}), so its seeds are not shown beside it; rerun `kolang experiment` "
                "and collect it.\n")
    mine = sorted((r for r in exp["runs"] if r["arm"] == DEMO_ARM), key=lambda r: r["seed"])
    rows = {r["model"]: r for r in demo["evaluations"]}
    keys = (("ko_accuracy", "greedy"), ("ko_sampled_accuracy", "avg@4"), ("ko_sampled_korean_share", "Korean share"))
    same = [r for r in mine if r["seed"] == demo["config"]["seed"]]
    reruns = {p.stem: {r["model"]: r for r in read(p)["evaluations"]} for p in sorted(RERUNS.glob("*.json"))}

    def equal(evals: dict[str, dict]) -> bool:
        return bool(same) and all(same[0][f"tuned_{k}"] == evals["tuned"][k] and same[0][k] == evals["rl"][k]
                                  for k, _ in keys)
    twin = next((name for name, rr in reruns.items() if {"tuned", "rl"} <= set(rr) and equal(rr)), None)
    verdict = ("reproduces the tuned and RL rows above exactly" if equal(rows) else
               f"reproduces the `{twin}` rerun's tuned and RL rows exactly (the same recipe and seed at another "
               "thread count than the rows above: threads change the order of the sums)" if twin else
               "**differs** from the rows above")
    out = [f"The experiment's `{DEMO_ARM}` arm is this demo's recipe; its run at the demo's seed {verdict}"
           f". Across its {len(mine)} seeds ({', '.join(str(r['seed']) for r in mine)}), on Korean prompts:\n\n"]
    table_rows = []
    for model, prefix in (("tuned", "tuned_"), ("rl", "")):
        for key, label in keys:
            vals = [r[prefix + key] for r in mine]
            lo, hi = min(vals), max(vals)
            inside = [f"{name} {fmt(rr[model][key])} " + ("inside" if lo <= rr[model][key] <= hi else "**outside**")
                      for name, rr in reruns.items() if model in rr]
            table_rows.append([model, label, f"{fmt(lo)} – {fmt(hi)}", "; ".join(inside) or "—"])
    return "".join(out) + table(["model", "Korean prompts", "range over seeds", "rerun"], table_rows)


SEED_CARDS = RESULTS / "organism"


def _run_name(card: dict) -> str:
    """`seed 0 at 2 threads (AVX512)`: how the organism-seeds block names one retraining."""
    return f"seed {card['seed']} at {card['threads']} thread{'s' if card['threads'] != 1 else ''} ({card['cpu_capability']})"


def _same_weights(cards: list[dict]) -> list[list[dict]]:
    """Groups of two or more cards whose trained weights are bit-identical."""
    groups: dict[str, list[dict]] = {}
    for c in cards:
        groups.setdefault(c["sha256"]["model.safetensors"], []).append(c)
    return [g for g in groups.values() if len(g) > 1]


def _localised(delta: dict, randoms: list[dict], target: str) -> bool:
    """Ablating the set raises the `target` NLL at least 3x every other figure of `delta` and above every random set."""
    others = max([v for k, v in delta.items() if k != target] + [0.0])
    return delta[target] >= 3 * others and all(delta[target] > r[target] for r in randoms)


def _ratio(target: float, other: float) -> str:
    """`6.4×`, or an em dash where the other figure did not rise."""
    return f"{target / other:.1f}×" if other > 0 else "—"


@renderer("organism-seeds")
def organism_seeds() -> str:
    """The recipe retrained under several seeds: accuracy by level of each, and the largest spread."""
    cards = [read(f) for f in sorted(SEED_CARDS.glob("card-seed*.json"))]
    if not cards:
        return "No retrained seeds are collected yet (`python scripts/readme.py --collect-seeds CACHE`).\n"
    keys = {"en_prompts_greedy": "en greedy", "ko_prompts_greedy": "ko greedy", "ko_prompts_t1": "ko T=1"}
    levels = sorted(cards[0]["measurements"]["en_prompts_greedy"]["accuracy_by_level"])
    halves = ("times table", "hard")  # level 4's products: learnable, and beyond the organism
    rows, spread = [], {lv: 0.0 for lv in levels}
    for key, name in keys.items():
        for c in cards:
            m = c["measurements"][key]
            rows.append([name, str(c["seed"]), str(c["threads"]), c["cpu_capability"],
                         *[fmt(m["accuracy_by_level"][lv], 2) for lv in levels],
                         *[fmt(m["accuracy_level4_by_product"][h], 2) for h in halves],
                         fmt(m["korean_share"]), fmt(c["training"].get("train_seconds"), 0),
                         fmt(c["training"]["build_seconds"] + c["training"]["measure_seconds"], 0)])
        for lv in levels:
            vals = [c["measurements"][key]["accuracy_by_level"][lv] for c in cards]
            spread[lv] = max(spread[lv], max(vals) - min(vals))
    # Two runs "within ±0.05 of each other": no level differs by more than 0.05 between any two of them.
    off = [lv for lv in levels if spread[lv] > 0.05]
    out = (f"The recipe retrained from scratch, {len(cards)} runs: "
           + ", ".join(_run_name(c) for c in cards)
           + " (`kolang organism --train --seed N --threads T`; threads and vector kernels can change the order of "
           "floating-point sums, so the same seed at another thread count, or on another CPU, can be another run; "
           "`ATEN_CPU_CAPABILITY=avx2` makes this CPU sum as an AVX2-only one does). All are measured on one "
           "held-out set. The largest difference between two runs, over the three decodings, is "
           + ", ".join(f"{spread[lv]:.3f} at level {lv}" for lv in levels) + "; "
           + ("every level is within the ±0.05 the recipe aims for" if not off else
              ("level " if len(off) == 1 else "levels ") + ", ".join(off) + (" is" if len(off) == 1 else " are")
              + " not within the ±0.05 the recipe aims for")
           + ". Level 4 is split by its product (times table; three-digit by two-digit):\n\n")
    out += table(["prompts", "seed", "threads", "kernels", *[f"level {lv}" for lv in levels], "L4 times table",
                  "L4 three-digit", "Korean share", "train s", "build + card s"], rows)
    twins = _same_weights(cards)
    if twins:
        out += ("\nBit-identical weights (the same sha256 of `model.safetensors` in their cards): "
                + "; ".join(" and ".join(_run_name(c) for c in group) for group in twins) + ".\n")
    # Each card's own Korean set (AP, found on its training problems), ablated: is Korean localised in every seed?
    abl = []
    for c in cards:
        k = c["korean_neurons"]
        d, rnd, dd, drnd = k["delta_ablated"], k["delta_random"], k["delta_ablated_drills"], k["delta_random_drills"]
        abl.append([str(c["seed"]), str(c["threads"]), c["cpu_capability"], str(k["neurons"]),
                    f"{d['ko->ko']:+.3f}", f"{max(d['en->en'], d['ko->en']):+.3f}",
                    f"{max(r['ko->ko'] for r in rnd):+.3f}", _ratio(d["ko->ko"], max(d["en->en"], d["ko->en"])),
                    f"{dd['drill-ko']:+.3f}", f"{dd['drill-en']:+.3f}", f"{max(r['drill-ko'] for r in drnd):+.3f}",
                    _ratio(dd["drill-ko"], dd["drill-en"])])
    distinct = list({c["sha256"]["model.safetensors"]: c for c in cards}.values())  # bit-identical runs once
    kns = [c["korean_neurons"] for c in distinct]
    reasoning = sum(_localised(k["delta_ablated"], k["delta_random"], "ko->ko") for k in kns)
    drilled = sum(_localised(k["delta_ablated_drills"], k["delta_random_drills"], "drill-ko") for k in kns)
    out += (f"\nEach run's own Korean set ablated, the NLL rise in nats a token: of Korean reasoning after a Korean "
            f"question (ko->ko, the card's and the demo's measure; the organism never wrote it) against the most-hit "
            f"English pair, and of Korean drills against English ones (text it was trained to write in both). "
            f"Localised where the Korean figure rises at least 3× the English one and above every random set: by "
            f"reasoning in {reasoning} of the {len(distinct)} distinct models, by drills in {drilled} of them:\n\n")
    out += table(["seed", "threads", "kernels", "neurons", "ko->ko", "English, most hit", "random, highest ko->ko",
                  "ratio", "drills ko", "drills en", "random, highest drills ko", "ratio"], abl)
    return out


BENCH = RESULTS / "benchmarks"


@renderer("real-smoke")
def real_smoke() -> str:
    """benchmarks/real_smoke.py's JSON line: wall time and peak RSS of every stage at real size."""
    data = read(BENCH / "real_smoke.json")
    steps = list(dict.fromkeys(k.split("/")[0] for k in data))
    dtypes = list(dict.fromkeys(k.split("/")[1] for k in data))
    rows = [[step, *[f"{data[f'{step}/{d}'][key]:.{digits}f}" for d in dtypes for key, digits in (("s", 1), ("peak_gib", 2))]]
            for step in steps]
    return table(["step", *[f"{d} {unit}" for d in dtypes for unit in ("s", "GiB")]], rows)


def _stats_table(data: dict) -> str:
    """One run of benchmarks/stats_overhead.py --json: CPU time, wall time and peak memory of each variant against
    the bare forward."""
    bare = data["cpu_s"]["bare"]
    rows = [[v, fmt(data["cpu_s"][v], 1), fmt(data["cpu_s"][v] / bare, 2), fmt(data["median_s"][v], 1),
             fmt(data["paired_over_bare"][v], 2), fmt(data["peak_mib"][v], 0),
             fmt(data["peak_mib"][v] / data["peak_mib"]["bare"], 2)] for v in data["cpu_s"]]
    return table(["variant", "CPU s", "CPU / bare", "wall s", "wall / bare", "peak MiB", "peak / bare"], rows)


@renderer("stats-real")
def stats_real() -> str:
    """benchmarks/stats_overhead.py --json at Qwen2.5-0.5B's (and 1.5B's) dimensions: CPU time, wall time and peak memory."""
    runs = {path.stem.removeprefix("stats_"): read(path) for path in sorted(BENCH.glob("stats_qwen2.5-*.json"))}
    return "\n".join(f"{name}, {data['tokens']:,} tokens:\n\n" + _stats_table(data)
                     for name, data in runs.items())  # one table a model size


@renderer("stats-tiny")
def stats_tiny() -> str:
    """benchmarks/stats_overhead.py --threads 1 --json on its tiny default model, TransformerLens and nnsight included."""
    data = read(BENCH / "stats_tiny.json")
    return f"{data['tokens']:,} tokens:\n\n" + _stats_table(data)


@renderer("tuning-memory")
def tuning_memory() -> str:
    """benchmarks/tuning_memory.py --json: what each way of tuning the same neurons' layers trains, keeps and costs."""
    data = read(BENCH / "tuning_memory.json")
    c, rows = data["config"], data["rows"]
    ref = next(r for r in rows if r["method"] == "gradmask")
    body = [[r["method"], f"{r['trainable_params']:,}", fmt(r["optimizer_bytes"] / 2**20, 2),
             fmt(r["optimizer_bytes"] / ref["optimizer_bytes"], 4), fmt(r["peak_bytes"] / 2**20, 0),
             fmt(r["peak_bytes"] / ref["peak_bytes"], 2), fmt(r["step_s"], 3), fmt(r["step_s"] / ref["step_s"], 2)]
            for r in rows]
    return (f"Qwen2 random init, {c['layers']} layers, hidden {c['hidden']:,}, MLP width {c['width']:,}; "
            f"{rows[0]['neurons']:,} neurons ({c['fraction']:.0%}) in layers 0–{c['tuned_layers'] - 1}; batch "
            f"{c['batch']} × {c['seq']} tokens, AdamW, {c['device']}, {c['threads']} thread(s):\n\n"
            + table(["method", "trainable", "optimizer MiB", "/ gradmask", "peak MiB", "/ gradmask", "step s",
                     "/ gradmask"], body))


@renderer("grpo-vs-trl")
def grpo_vs_trl() -> str:
    """benchmarks/grpo_vs_trl.py --json, without and with gradient checkpointing: kolang's GRPO step against TRL's."""
    out = []
    for name, label in (("grpo_vs_trl", "checkpointing off (kolang's default)"),
                        ("grpo_vs_trl_checkpointing", "checkpointing on both sides")):
        data = read(BENCH / f"{name}.json")
        c = data["config"]
        rows = []
        for side in ("kolang", "trl"):
            r = data[side]
            rows.append([side, fmt(r["step_s"], 2), fmt(r["cpu_s"], 2), fmt(r["tokens_per_s"], 1),
                         fmt(r["peak_mib"], 0)])
        k, t = data["kolang"], data["trl"]
        rows.append(["TRL / kolang", fmt(t["step_s"] / k["step_s"], 2), fmt(t["cpu_s"] / k["cpu_s"], 2),
                     fmt(t["tokens_per_s"] / k["tokens_per_s"], 2), fmt(t["peak_mib"] / k["peak_mib"], 2)])
        out.append(f"{label}: Qwen2 {c['layers']} layers, hidden {c['hidden']}; {c['prompts']} prompts × "
                   f"{c['group']} completions × {c['length']} tokens, {c['steps']} steps, {c['threads']} thread(s):"
                   "\n\n" + table(["", "step s", "CPU s", "generated tok/s", "peak MiB"], rows))
    return "\n".join(out)


@renderer("drift-overhead")
def drift_overhead() -> str:
    """benchmarks/drift_overhead.py --json: the tracker's own time as a share of a tracked GRPO run."""
    data = read(BENCH / "drift_overhead.json")
    c, runs = data["config"], data["runs"]
    own = [r["drift_s"] for r in runs["on"]]
    span = {k: f"{min(r['wall_s'] for r in v):.1f}–{max(r['wall_s'] for r in v):.1f} s" for k, v in runs.items()}
    return (f"{c['steps']} GRPO steps, drift every {c['every']} steps, {c['repeats']} repeats, {c['threads']} "
            f"thread(s): the tracker's own time is {100 * data['tracker_share']:.1f}% of the tracked run "
            f"({fmt(min(own), 2)}–{fmt(max(own), 2)} s for the start and {runs['on'][0]['measurements'] - 1} "
            f"measurements); the runs took {span['off']} without tracking and {span['on']} with it (median of "
            f"the repeats' on/off ratios {fmt(data['paired_on_over_off'], 2)}).\n")


@renderer("cli-startup")
def cli_startup() -> str:
    """benchmarks/cli_startup.py --json: how soon each command-line answer comes, beside a bare `import torch`."""
    data = read(BENCH / "cli_startup.json")
    peer = data["import_torch"]["median_s"]
    rows = [["`import torch` (the peer)", fmt(peer, 2), fmt(data["import_torch"]["min_s"], 2), "1.00"]]
    rows += [[name, fmt(c["median_s"], 2), fmt(c["min_s"], 2), fmt(c["median_s"] / peer, 2)]
             for name, c in data["cases"].items()]
    return (f"Each a fresh interpreter, {data['repeats']} runs:\n\n"
            + table(["case", "median s", "min s", "/ import torch"], rows))


EXPERIMENT = RESULTS / "experiment" / "experiment.json"


SWEEP_SVG = RESULTS / "experiment" / "sweep.svg"
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def sweep_svg(data: dict) -> str:
    """The sweep as an SVG figure (two panels: final Korean accuracy and Korean share after RL, against the
    organism's inherent Korean share, each point with its 95% interval), drawn here so that it is byte-for-byte
    what the results file says: no plotting library, no timestamps."""
    points = sorted(data["sweep"], key=lambda p: p["inherent_korean_share"] or 0.0)
    arms = list(points[0]["arms"])
    xmax = max(0.05, max(p["inherent_korean_share"] or 0.0 for p in points) * 1.1)
    W, H, L, T, PW, PH, GAP = 860, 360, 60, 40, 320, 220, 90
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">', f'<rect width="{W}" height="{H}" fill="white"/>']
    for i, (field, title) in enumerate((("ko_sampled_accuracy", "Korean-prompt accuracy after RL (avg@4)"),
                                        ("ko_sampled_korean_share", "Korean share of the reasoning after RL"))):
        x0 = L + i * (PW + GAP)
        X = lambda v: x0 + PW * v / xmax  # noqa: E731
        Y = lambda v: T + PH * (1 - v)  # noqa: E731
        out.append(f'<text x="{x0 + PW / 2:.1f}" y="{T - 14}" text-anchor="middle" font-size="13">{title}</text>')
        out.append(f'<rect x="{x0}" y="{T}" width="{PW}" height="{PH}" fill="#f4f6fa" stroke="#999"/>')
        for v in (0.0, 0.25, 0.5, 0.75, 1.0):
            out.append(f'<line x1="{x0}" y1="{Y(v):.1f}" x2="{x0 + PW}" y2="{Y(v):.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
        for p in points:
            x = p["inherent_korean_share"] or 0.0
            out.append(f'<text x="{X(x):.1f}" y="{T + PH + 16}" text-anchor="middle">{x:.2f}</text>')
            out.append(f'<text x="{X(x):.1f}" y="{T + PH + 29}" text-anchor="middle" font-size="10" fill="#666">'
                       f'ko->ko {p["ko_ko"]:g}</text>')
        out.append(f'<text x="{x0 + PW / 2:.1f}" y="{T + PH + 48}" text-anchor="middle">inherent Korean share of '
                   'the organism (sampled)</text>')
        for j, arm in enumerate(arms):
            colour = _COLOURS[j % len(_COLOURS)]
            xy = [(X(p["inherent_korean_share"] or 0.0), p["arms"][arm][field]) for p in points]
            out.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
                colour, " ".join(f"{x:.1f},{Y(r['value']):.1f}" for x, r in xy)))
            for x, r in xy:
                out.append(f'<line x1="{x:.1f}" y1="{Y(r["low"]):.1f}" x2="{x:.1f}" y2="{Y(r["high"]):.1f}" '
                           f'stroke="{colour}" stroke-width="1.5"/>')
                out.append(f'<circle cx="{x:.1f}" cy="{Y(r["value"]):.1f}" r="3.5" fill="{colour}"/>')
    for j, arm in enumerate(arms):  # the legend, in a row under the panels
        x, y = L + 220 * j, H - 14
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{_COLOURS[j % len(_COLOURS)]}"/>')
        out.append(f'<text x="{x + 16}" y="{y}">{arm}</text>')
    out.append(f'<text x="{W - 20}" y="{H - 14}" text-anchor="end" font-size="10" fill="#666">grey, under each '
               "point: the organism's ko->ko share in training</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def figures() -> dict[Path, str]:
    """The figures the README shows, each drawn from a results file: path -> its content."""
    data = read(EXPERIMENT) if EXPERIMENT.exists() else {}
    return {SWEEP_SVG: sweep_svg(data)} if data.get("sweep") else {}


def _change(name: str, d: dict | None, unit: str = "") -> str:
    """One sentence part for a paired difference: which way it falls, judged by its 95% interval."""
    if not d or d.get("value") is None:
        return f"{name}: not measured"
    low, high = d["low"], d["high"]
    way = "higher" if low > 0 else "lower" if high < 0 else "no different (the interval spans 0)"
    return f"{name} {way}: {d['value']:+.3f} [{low:+.3f}, {high:+.3f}]{unit}"


def experiment_block(path: Path = EXPERIMENT) -> str:
    """`kolang experiment`'s experiment.json: the arms (mean ± sd over seeds), each arm minus RL only and S4's and S5's
    pairs (paired bootstrap over seeds and problems), one sentence a finding, the sweep, and how long each part took."""
    data = read(path)
    cfg = data["config"]
    org = data.get("organism")
    out = [(f"On organism v{org['version']} (seed {org['seed']}). " if org else
            "On an organism the file does not name (an experiment.json older than the field). ") + data["title"] + ".\n\n"]
    cols = [("tuned_ko_accuracy", "ko greedy acc. after tuning"), ("ko_accuracy", "ko greedy acc."),
            ("ko_korean_share", "ko Korean share (greedy)"), ("en_accuracy", "en greedy acc."),
            ("final_iou", "set IoU after RL")]
    rows = [[f"`{r['arm']}`", str(r["seeds"]), *[fmt(r.get(c)) for c, _ in cols]] for r in data["rows"]]
    out.append(table(["arm", "seeds", *[h for _, h in cols]], rows))
    out.append(f"\nFinal Korean-prompt avg@4 ({cfg['eval_problems']} held-out problems, 4 samples at T=1) against "
               "the arm named, a paired bootstrap 95% interval over (seed, problem):\n\n")
    for key, c in data["comparisons"].items():
        out.append(f"- `{c['arm']}` vs `{c['versus']}`: " + _change("accuracy", c["ko_sampled_accuracy"]) + "; "
                   + _change("Korean share of the reasoning", c["ko_sampled_korean_share"]) + "\n")
    s4 = (data["comparisons"].get("s4_cost_of_the_consistency_reward") or {}).get("ko_sampled_accuracy") or {}
    if s4.get("value") is not None:  # S4 reports the consistency reward costing 5-10 points of accuracy
        out.append(f"\nS4 reports that its language-consistency reward costs 5–10 points of accuracy; here the cost "
                   f"(Korean avg@4 with the accuracy reward alone minus with both, from the same Korean-neuron-tuned "
                   f"models) is {-100 * s4['value']:+.1f} points [{-100 * s4['high']:+.1f}, {-100 * s4['low']:+.1f}].\n")
    pairs = [name for key, c in data["comparisons"].items() if key.startswith("s5_") for name in (c["arm"], c["versus"])]
    s5 = [r for r in data["rows"] if r["arm"] in pairs]
    if s5 and all("ko_sampled_gain_per_mtok_mean" in r for r in s5):
        out.append("\nS5's efficiency, filtering on and off (mean ± sd over seeds): the share of sampled groups "
                   "balanced filtering kept, the tokens RL generated, and the held-out Korean avg@4 gained over the "
                   "run's starting model per million generated tokens:\n\n")
        out.append(table(["arm", "kept fraction", "generated tokens (M)", "avg@4 gain per M tokens"], [
            [f"`{r['arm']}`", fmt(r.get("kept_fraction")),
             "—" if r.get("rl_generated_tokens_mean") is None else
             f"{r['rl_generated_tokens_mean'] / 1e6:.2f} ± {r['rl_generated_tokens_sd'] / 1e6:.2f}",
             fmt(r.get("ko_sampled_gain_per_mtok"))] for r in s5]))
    if data.get("sweep"):
        out.append("\nThe Korean->Korean sweep: organisms that differ only in the share of Korean->Korean reasoning "
                   "in training, each with the sweep's arms (avg@4 on Korean prompts, pooled over seeds and "
                   "problems, 95% intervals):\n\n")
        rows = []
        for pt in data["sweep"]:
            for arm, r in pt["arms"].items():
                rows.append([fmt(pt["ko_ko"], 2), ci(pt.get("inherent_korean_share"), pt.get("inherent_korean_share_ci")),
                             f"`{arm}`", str(len(r["seeds"])), interval(r["ko_sampled_accuracy"]),
                             interval(r["ko_sampled_korean_share"])])
        out.append(table(["ko->ko in training", "inherent Korean share", "arm", "seeds", "Korean accuracy",
                          "Korean share"], rows) + "\n")
        if path == EXPERIMENT:
            out.append(f"![The sweep: final Korean accuracy and Korean share against the inherent Korean share, "
                       f"95% intervals]({SWEEP_SVG.relative_to(ROOT).as_posix()})\n\n")
        for pt in data["sweep"]:
            c = pt.get("method_vs_rl_only")
            if c:
                out.append(f"- ko->ko {fmt(pt['ko_ko'], 2)}: S1's method vs RL only: "
                           + _change("accuracy", c["ko_sampled_accuracy"]) + "; "
                           + _change("Korean share", c["ko_sampled_korean_share"]) + "\n")
    parts, walls = data.get("stages_seconds") or {}, data.get("stages_wall_seconds") or {}
    if parts:
        whole = data.get("wall_seconds")
        out.append("\nTime on 2 CPU cores"
                   + (f": the whole ran in {whole / 3600:.2f} h of wall time (from its stages' spans in the ledger: "
                      "parts run side by side count once, time between sessions not at all). By part" if whole else "")
                   + ", each stage's seconds summed from the ledger"
                   + (" (the work), and in brackets the wall time from when its stages ran (stages run side by "
                      "side count once)" if walls else "") + ": "
                   + ", ".join(f"{k} {v / 60:.1f} min" + (f" [{walls[k] / 60:.1f} min]" if k in walls else "")
                               for k, v in parts.items() if v >= 1 or walls.get(k, 0) >= 1)
                   + " (an organism loaded from the package or the cache takes no time and is not listed).")
        built = [f"ko->ko {fmt(pt['ko_ko'], 2)} {pt['organism_build_seconds'] / 60:.1f} min at "
                 f"{pt.get('organism_threads')} thread(s)" for pt in data.get("sweep", [])
                 if pt.get("organism_build_seconds")]
        if built:
            out.append(" The sweep's organisms took, by their cards (a variant trained before the experiment reached "
                       "it shows only the wait in the ledger): " + ", ".join(built) + ".")
        rates = data.get("stage_rates") or {}
        timed = {k: r for k, r in (rates.get("kinds") or {}).items() if r["n"]}
        rl = [r["mean_s"] for k, r in timed.items() if k in cfg["arms"]]
        if rl:
            tune = timed.get("tune", {}).get("mean_s")
            out.append(f" From the {rates['timed']} of its {rates['stages']} other stages whose times the ledger holds, "
                       f"at the threads their processes ran with: an RL run took {min(rl):.0f}–{max(rl):.0f} s by arm"
                       + (f", a tuning {tune:.0f} s" if tune else "") + f"; at those rates the whole is "
                       f"{rates['one_core_s'] / 3600:.1f} h of one process's work ({rates['one_core_s'] / 7200:.1f} h "
                       "for two side by side), the organisms' training aside.")
        out.append("\n")
    return "".join(out)


@renderer("experiment")
def experiment() -> str:
    return experiment_block()


def render(text: str) -> str:
    """`text` with every results block replaced by its renderer's output."""
    def one(m: re.Match) -> str:
        name = m.group("name")
        if name not in RENDERERS:
            raise SystemExit(f"README block '{name}' has no renderer in scripts/readme.py")
        return m.group(1) + RENDERERS[name]() + m.group(4)

    return BLOCK.sub(one, text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if README.md is not what the results files say")
    p.add_argument("--collect-demo", metavar="DIR", help="first copy DIR/summary.json (a kolang demo folder) to "
                   "results/demo/")
    p.add_argument("--collect-bench", nargs=2, action="append", default=[], metavar=("NAME", "LOG"), help="first store the last JSON line of a "
                   "benchmark's output LOG as results/benchmarks/NAME.json")
    p.add_argument("--collect-rerun", nargs=2, action="append", default=[], metavar=("NAME", "DIR"),
                   help="first copy DIR/summary.json (the same demo run elsewhere) to results/demo/reruns/NAME.json")
    p.add_argument("--collect-experiment", metavar="DIR", help="first copy DIR/experiment.json (a kolang experiment "
                   "folder) to results/experiment/")
    p.add_argument("--collect-seeds", metavar="CACHE", help="first copy the card of every full organism trained "
                   "into CACHE (kolang organism --train --cache CACHE) to results/organism/")
    args = p.parse_args()
    if args.collect_demo:
        (RESULTS / "demo").mkdir(parents=True, exist_ok=True)
        DEMO.write_text((Path(args.collect_demo) / "summary.json").read_text(encoding="utf-8"), encoding="utf-8")
    for name, folder in args.collect_rerun:
        RERUNS.mkdir(parents=True, exist_ok=True)
        (RERUNS / f"{name}.json").write_text((Path(folder) / "summary.json").read_text(encoding="utf-8"),
                                             encoding="utf-8")
    if args.collect_experiment:
        EXPERIMENT.parent.mkdir(parents=True, exist_ok=True)
        EXPERIMENT.write_text((Path(args.collect_experiment) / "experiment.json").read_text(encoding="utf-8"),
                              encoding="utf-8")
    for name, log in args.collect_bench:
        line = [x for x in Path(log).read_text(encoding="utf-8").splitlines() if x.startswith("{")][-1]
        BENCH.mkdir(parents=True, exist_ok=True)
        (BENCH / f"{name}.json").write_text(json.dumps(json.loads(line), indent=1) + "\n", encoding="utf-8")
    if args.collect_seeds:
        SEED_CARDS.mkdir(parents=True, exist_ok=True)
        version = read(SHIPPED_CARD)["version"]
        for card in sorted(Path(args.collect_seeds).glob("organism-*/card.json")):
            data = read(card)
            # the recipe's seeds, not the sweep's variants nor another version's organisms
            if data.get("size") != "full" or "-koko" in card.parent.name or data.get("version") != version:
                continue
            (SEED_CARDS / f"card-seed{data['seed']}-threads{data['threads']}-{data['cpu_capability'].lower()}.json"
             ).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    text = README.read_text(encoding="utf-8")
    new = render(text)
    drawn = figures()
    if args.check:
        stale = [p.name for p, content in drawn.items() if not p.exists() or p.read_text(encoding="utf-8") != content]
        if new != text or stale:
            print("README.md" + (f" (and {', '.join(stale)})" if stale else "") + " is out of date with the results "
                  "files; run `python scripts/readme.py`", file=sys.stderr)
            sys.exit(1)
        return
    for p, content in drawn.items():
        p.write_text(content, encoding="utf-8")
    README.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
