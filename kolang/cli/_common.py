"""What every command shares: the console, progress that also shows when piped, and the argument
checks that need no model, run before torch or transformers are imported so bad input is
answered at once.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from kolang.data.discovery import CorpusConfig, split_source
from kolang.data.io import is_dataset_dir
from kolang.errors import ConfigError, DataError, Interrupted, NeuronSetError, RunDirError
from kolang.hub import ModelSource, locate
from kolang.io import check_writable, holds_only, require_replaceable
from kolang.layers import parse_layers
from kolang.loading import LoadConfig

console = Console(stderr=True, highlight=False, soft_wrap=True)  # long paths stay on one line in logs

# A piped run prints a plain progress line at least this often (and at the end).
PLAIN_EVERY_S = 10.0


def say(text: str) -> None:
    """One line on the terminal (stderr), rich markup allowed."""
    console.print(text)


def quiet_libraries() -> None:
    """Silence the libraries' own progress bars and advice, which would interleave with kolang's; call
    after the command's first line is printed (it imports transformers)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # read when a corpus imports `datasets`
    import transformers  # heavy: deferred so that help and bad input are answered without it

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    # accelerate says that offloaded weights sit on the meta device: what --device-map asked for.
    logging.getLogger("accelerate.big_modeling").setLevel(logging.ERROR)
    # PEFT reads transformers' renamed `is_gradient_checkpointing` when wrapping a model; not the user's concern.
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A progress display; yields `update(done, info="")`. A bar on a terminal; piped, one plain line
    at least every `PLAIN_EVERY_S` seconds and a last one, so logs show that work goes on."""
    start = time.perf_counter()
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(description, total=total, info="")

            def update(done: int, info: str = "") -> None:
                bar.update(task, completed=done, info=info)

            yield update
        return
    last = [start, -1, ""]

    def update(done: int, info: str = "") -> None:
        now = time.perf_counter()
        last[1], last[2] = done, info
        if now - last[0] >= PLAIN_EVERY_S:
            last[0] = now
            _plain(description, done, total, info, now - start)

    yield update
    if last[1] >= 0:
        _plain(description, last[1], total, last[2], time.perf_counter() - start)


def _plain(description: str, done: int, total: int | None, info: str, elapsed: float) -> None:
    of = f"/{total}" if total else ""
    console.print(f"{description}: {done}{of}" + (f" · {info}" if info else "") + f" · {elapsed:.0f}s")


@contextmanager
def resumable(command: str, out: Path) -> Iterator[None]:
    """Turn Ctrl-C during a run into `Interrupted` (exit 130) with a line saying how to continue it."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(f"{out} holds the run up to its last checkpoint; continue it with the same "
                          f"`kolang {command}` command and --resume") from None


def tokens_rate(start: float, tokens: int) -> str:
    """`12,345 tok/s` since `start` (a perf_counter value)."""
    return f"{tokens / max(time.perf_counter() - start, 1e-9):,.0f} tok/s"


# ---- argument checks that need no model ------------------------------------------------------------

MODEL_HELP = "Hugging Face model folder, or hub id (org/name, read from the Hugging Face cache or downloaded)."
DATA_HELP = ("Discovery texts: JSONL of {text, lang} or parallel {ko, en} lines, or any file or folder `datasets` "
             "reads (see --text-field, --pair-fields); LANG=PATH for a one-language corpus; repeatable "
             "(default: bundled Korean/English sentences).")


def model_arg(model: str, revision: str | None = None, option: str = "--model") -> ModelSource:
    """A local Hugging Face model folder, or a hub id at `revision` found on the Hub or in its cache, answered
    without reading weights (`kolang.hub.locate`)."""
    return locate(model, revision, option)


def load_arg(load: LoadConfig, device: str | None) -> LoadConfig:
    """The shared load options, checked against --device: a device map places every module itself."""
    if device is not None and load.device_map is not None:
        raise ConfigError("give --device or --device-map, not both")
    return load


def data_arg(path: Path, option: str = "--data") -> Path:
    """A data file that exists and is not empty, or a folder of data (`datasets`' save_to_disk, or data files)."""
    if not path.exists():
        raise DataError(f"{option} {path} does not exist")
    if path.is_dir() and not any(path.iterdir()):
        raise DataError(f"{option} {path} is an empty folder")
    if path.is_dir() and not is_dataset_dir(path):
        raise DataError(f"{option} {path} is a folder of no data `datasets` reads (no save_to_disk files, no "
                        "JSONL, parquet, CSV or arrow files); give a data file or such a folder")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{option} {path} is empty")
    return path


def corpus_arg(items: list[str] | None, corpus: CorpusConfig, option: str = "--data") -> list[str] | None:
    """Discovery sources (`PATH` or `LANG=PATH`), each checked by `data_arg`, and the column mapping they take."""
    for item in items or ():
        lang, path = split_source(item)
        data_arg(path, option)
        corpus.columns(lang)  # a one-language source cannot take --pair-fields
    return items


def neurons_arg(path: Path, option: str = "--neurons") -> Path:
    """A NeuronSet folder written by `kolang discover` (neurons.json + neurons.safetensors)."""
    if not path.is_dir() or not (path / "neurons.json").is_file():
        raise NeuronSetError(f"{option} {path} is not a neuron set (a folder holding neurons.json, "
                             "from `kolang discover`)")
    return path


def out_arg(path: Path, writes: Collection[str], option: str = "--out") -> Path:
    """An output folder kolang may write: creatable, and missing, empty, or holding only `writes`."""
    check_writable(path, option)
    require_replaceable(path, holds_only(writes), option)
    return path


def run_arg(path: Path, kind: str, resume: bool, option: str = "--out") -> Path:
    """A run folder for `kolang tune`/`rl`: creatable, and new, empty, or a kolang `kind` run (to resume)."""
    check_writable(path, option)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return path
    if not path.is_dir():
        raise RunDirError(f"{option} {path} is a file; name a run folder")
    try:
        found = run_kind(path)
    except ValueError:
        raise RunDirError(f"{option} {path}: its config.json cannot be read (cut short?); choose another {option}") from None
    if found is None:
        raise RunDirError(f"{option} {path} is not a kolang run folder (it holds files kolang did not write); "
                          f"choose another {option}")
    if found != kind:
        raise RunDirError(f"{option} {path} holds a `kolang {found}` run, not a `kolang {kind}` run")
    return path


def run_kind(path: Path) -> str | None:
    """"tune" or "rl" when `path/config.json` is a kolang run config, else None; `ValueError` when the
    file is there but cannot be parsed."""
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except OSError:
        return None
    kind = cfg.get("kolang_run") if isinstance(cfg, dict) else None
    return kind if kind in ("tune", "rl") else None


def run_args(kind: str, cfg: object, model: str, data: Path, neurons: Path | None, out: Path, resume: bool) -> ModelSource:
    """What `kolang tune` and `kolang rl` check before anything heavy loads: the model (found, not read),
    the data, the neuron set, the layer spec and the run folder; returns where the model is."""
    source = model_arg(model, getattr(cfg, "revision", None))
    data_arg(data)
    if neurons is not None:
        neurons_arg(neurons)
    layers_arg(getattr(cfg, "layers", None))
    run_arg(out, kind, resume)
    return source


def pipeline_out(out: Path, writes: Collection[str]) -> Path:
    """A demo or experiment folder: creatable, and missing, empty or one an earlier run of the same kind wrote."""
    check_writable(out)
    require_replaceable(out, holds_only(("stages.json", *writes)), "--out")
    return out


def layers_arg(spec: str | None, option: str = "--layers") -> str | None:
    """Check a layer spec's syntax ("0:8", "-4:", "0,2,5", "all") before any model is loaded; its
    range is checked against the model later."""
    if spec is None:
        return None
    try:
        parse_layers(spec, 10**6)  # every in-range spec parses against a model this deep
    except ConfigError as e:
        raise ConfigError(f"{option}: {e}") from None
    return spec
