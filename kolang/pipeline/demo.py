"""The whole pipeline on the model organism, every artifact in one folder, finished stages reused.

organism → data → discover → validate → evaluate → tune (Korean neurons of the early layers, on
self-correcting code-switched traces) → evaluate → GRPO with accuracy + language rewards, drift
tracked → evaluate → logit lens → report.html. Each stage writes its outputs atomically and then a
line in `stages.json`; a rerun skips the stages listed there (`fresh=True` redoes them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kolang.analysis.config import ValidateConfig
from kolang.analysis.logit_lens import korean_prompts, logit_lens
from kolang.analysis.report import write_report
from kolang.config import to_dict
from kolang.data.discovery import load_discovery
from kolang.io import atomic_write_json
from kolang.models import load_model
from kolang.neurons.neuronset import NeuronSet
from kolang.pipeline.config import DEMO_WRITES, DemoConfig
from kolang.pipeline.organism import build
from kolang.pipeline.stages import (
    Say,
    Stages,
    discover_dir,
    evaluate_dir,
    rl_dir,
    task_splits,
    tune_dir,
    validate_dir,
    write_data,
)


def run_demo(out: str | Path, cfg: DemoConfig = DemoConfig(), fresh: bool = False, say: Say = print) -> Path:
    """Run every stage into `out` and return the path of `report.html`."""

    out = Path(out)
    settings = to_dict(cfg)
    # the cache's place changes nothing
    st = Stages(out, fresh, {k: v for k, v in settings.items() if k != "cache"}, DEMO_WRITES)
    atomic_write_json(out / "demo_config.json", settings)
    evals = out / "eval"
    evals.mkdir(exist_ok=True)

    organism = st.run("organism", lambda: {"model": str(build(cfg.size, cfg.cache, cfg.seed))}, say)["model"]
    held_out, train, unseen = task_splits(cfg, cfg.seed)
    paths = st.run("data", lambda: write_data(out / "data", train, unseen, cfg.seed, cfg.sft), say)
    neurons = st.run("discover", lambda: discover_dir(organism, paths["discovery"], out / "neurons", cfg.method,
                                                     cfg.per_layer, cfg.top_fraction), say)["neurons"]

    def validate() -> dict[str, Any]:
        model, tok = load_model(organism)
        texts, langs = load_discovery(paths["discovery"])
        result = validate_dir(model, tok, NeuronSet.load(neurons, model), texts, langs, out / "validate",
                              ValidateConfig(n_random=3, seed=cfg.seed))
        return {"delta_nll": result["delta_nll"]["set"], "verdict": result["verdict"]}

    st.run("validate", validate, say)
    st.run("eval_base", lambda: evaluate_dir(organism, held_out, "base", evals, cfg.seed), say)
    tuned = st.run("tune", lambda: tune_dir(organism, paths["sft"], neurons, out / "tune", "neurons", cfg.layers,
                                            cfg.tune_steps, cfg.tune_lr, cfg.seed), say)["merged"]
    st.run("eval_tuned", lambda: evaluate_dir(tuned, held_out, "tuned", evals, cfg.seed), say)
    final = tuned
    if cfg.rl_steps:
        final = st.run("rl", lambda: rl_dir(tuned, paths["rl"], neurons, out / "rl", cfg.rl_steps, cfg.rl_lr,
                                            cfg.seed), say)["model"]
        st.run("eval_rl", lambda: evaluate_dir(final, held_out, "rl", evals, cfg.seed), say)

    def lens() -> dict[str, Any]:

        result = {}
        for label, path in (("base", organism), ("final", final)):
            model, tok = load_model(path)
            result[label] = logit_lens(model, tok, korean_prompts(tok, n=16, seed=cfg.seed))
            atomic_write_json(out / "lens" / label / "logit_lens.json", result[label])
        return {"layers": len(result["base"].get("layers", []))}

    st.run("logit_lens", lens, say)

    rows = [json.loads((evals / f"eval_{k}.json").read_text()) for k in ("base", "tuned", "rl") if (evals / f"eval_{k}.json").exists()]
    atomic_write_json(out / "summary.json", {"evaluations": rows, "stages": {k: v.get("seconds") for k, v in st.done.items()}})

    return write_report(out, title="kolang demo — model organism")
