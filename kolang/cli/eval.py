"""`kolang eval`: accuracy (greedy, avg@k, pass@k) and the language of thought and of answer of any model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from kolang.analysis.config import COMPLETIONS_FILE, EVAL_FILE, EVAL_FILES, EvalConfig
from kolang.cli._common import console, data_arg, load_arg, model_arg, out_arg, progress, quiet_libraries, say
from kolang.cli.options import command
from kolang.config import from_kwargs
from kolang.errors import ConfigError
from kolang.loading import LoadConfig

ORGANISM = "organism"  # --model organism[:size]: the bundled model organism, built once and cached


def _organism_size(model: str) -> str | None:
    """The organism size `--model` names ("organism" -> "full", "organism:micro" -> "micro"), else None."""
    if model != ORGANISM and not model.startswith(ORGANISM + ":"):
        return None
    from kolang.organism.config import SIZES

    size = model.partition(":")[2] or "full"
    if size not in SIZES:
        raise ConfigError(f"--model {model}: the organism comes in {', '.join(SIZES)} (organism:{next(iter(SIZES))})")
    return size


def _ci(rate: dict[str, Any] | None, digits: int = 3) -> str:
    if not rate or rate.get("value") is None:
        return "—"
    return f"{rate['value']:.{digits}f} [{rate['low']:.{digits}f}, {rate['high']:.{digits}f}]"


@command("eval", EvalConfig, LoadConfig)
def _eval(
    model: str = typer.Option(..., "--model", help="Hugging Face model folder or hub id, or organism "
                              "(organism:micro) for the bundled model organism."),
    data: Path = typer.Option(..., "--data", help="Problems: JSONL, JSON, parquet, CSV or a `datasets` save_to_disk "
                              "folder, in one of the --schema layouts."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for eval.json and completions.jsonl (default: "
                                       "eval-<model folder name>)."),
    dtype: str = typer.Option("auto", "--dtype", help="Model dtype: auto, fp32, bf16, fp16."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda … (default: cuda if present)."),
    **kwargs,
) -> None:
    """Measure a model on a problem file: greedy and sampled accuracy (avg@k, pass@k), the target share of thought
    and of answer, lengths, truncation, per level or subject, each with a bootstrap 95% interval."""
    cfg = from_kwargs(EvalConfig, kwargs)
    load = load_arg(from_kwargs(LoadConfig, kwargs), device)
    size = _organism_size(model)
    if size is not None and load.revision is not None:
        raise ConfigError(f"--revision names a hub revision; --model {model} is the bundled organism, which has none")
    source = model_arg(model, load.revision) if size is None else None
    data_arg(data)
    out = out if out is not None else Path(f"eval-{Path(model).name if size is None else 'organism-' + size}")
    out_arg(out, EVAL_FILES)
    say(f"eval: {model} on {data}, greedy{' and' if cfg.greedy else ' off,'} {cfg.samples} samples at temperature "
        f"{cfg.temperature:g}, {cfg.target} share of thought and answer → {out}")
    from kolang.data.io import read_records
    from kolang.data.schemas import to_records

    records = to_records(read_records(data), cfg.schema, cfg.lang, source=str(data))
    quiet_libraries()
    from rich.table import Table

    from kolang.models import load_model, set_threads
    from kolang.pipeline.stages import eval_dir

    set_threads()
    if size is not None:
        from kolang.pipeline.organism import build

        source = model = str(build(size))
    hf, tok = load_model(source, dtype=dtype, device=device, **({} if size else load.load_kwargs()))
    n = min(len(records), cfg.limit or len(records))
    say(f"{n} problems, {n * (cfg.samples + int(cfg.greedy))} completions of at most {cfg.max_new_tokens} tokens")
    with progress("eval", n * (cfg.samples + int(cfg.greedy))) as update:
        result = eval_dir(hf, tok, records, out, cfg, {"model": model, "data": str(data)},
                          progress=lambda done, total: update(done))
    table = Table(title=f"{cfg.target} share measured by {result['language_path']}; 95% bootstrap intervals")
    for col in ("set", "n", "greedy acc", f"avg@{cfg.samples}", f"pass@{cfg.samples}", "thought share", "answer share",
                "tokens", "truncated"):
        table.add_column(col, justify="left" if col == "set" else "right")
    for name, s in result["sets"].items():
        g, k = s.get("greedy", {}), s["sampled"]
        table.add_row(name, str(s["n"]), _ci(g.get("accuracy")), _ci(k["accuracy"]), _ci(k["pass@k"]),
                      _ci(k["target_share_thought"]), _ci(k["target_share_answer"]), _ci(k["tokens"], 0),
                      _ci(k["truncation_rate"]))
    console.print(table)
    say(f"wrote {out / EVAL_FILE} and {out / COMPLETIONS_FILE}")
