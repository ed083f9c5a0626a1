"""The `kolang` command line: one typer app; each command lives in its own module here.

Listing the commands, `--help`, and every usage error are answered without importing torch,
transformers, peft, trl, nnsight or TransformerLens: the command modules import only configs and
light checks at module level, and each command imports the heavy libraries in its body after
printing its first line (tests/cli/test_startup.py keeps it so).
"""

from __future__ import annotations

import importlib
import pkgutil
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import typer

from kolang.errors import Interrupted, KolangError, KolangNote

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
                  help="Find, tune and track the language neurons of LLMs.")


@app.callback()
def _root() -> None:
    """Find, tune and track the language neurons of LLMs."""


def _register_commands() -> None:
    # Each module in kolang/cli/ registers its commands on `app` at import (one file per command).
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name != "options":
            importlib.import_module(f"{__name__}.{info.name}")


def _fail(message: str, code: int) -> None:
    if code == 130 and _terminated:
        message, code = message.replace("interrupted", "terminated", 1), 128 + signal.SIGTERM
    print(f"kolang: {message}", file=sys.stderr)
    sys.exit(code)


_terminated = False


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (`kill`, a job scheduler's stop) unwinds like Ctrl-C, so temporary folders are removed and the run's
    resume line is printed; the exit status is then 143, as for a process SIGTERM ended."""
    global _terminated
    _terminated = True
    raise KeyboardInterrupt


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Within the block SIGTERM raises like Ctrl-C. Only the main thread may set a handler, and one someone else
    installed (a program embedding `main`) is kept; the previous handler is back after the block."""
    global _terminated
    _terminated = False
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def _notes() -> Iterator[None]:
    """Print each `KolangNote` warning once, as one `kolang: note:` line; other warnings as Python shows them."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            if issubclass(category, KolangNote):
                print(f"kolang: note: {message}", file=sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.simplefilter("default", KolangNote)
        yield


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit status 2; Ctrl-C exits 130; notes
    (`KolangNote`) are one `kolang: note:` line each. SIGTERM unwinds the same way and exits 143."""
    _register_commands()
    try:
        with _sigterm_unwinds(), _notes():
            code = app(args=argv, prog_name="kolang", standalone_mode=False)
    except Interrupted as e:
        _fail(f"interrupted: {e}", 130)
    except KolangError as e:
        _fail(f"error: {e}", 2)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except SystemExit:
        raise
    except Exception as e:  # usage errors (unknown option, bad value)
        # Typer >= 0.29 carries its own copy of click, so match click's exception classes by name.
        names = {c.__name__ for c in type(e).__mro__}
        if "Abort" in names:
            _fail("interrupted", 130)
        if "ClickException" in names:
            _fail(f"error: {e.format_message()}", 2)
        raise
    if code == 130:  # typer turns Ctrl-C outside a run into Exit(130), returned under standalone_mode=False
        _fail("interrupted", 130)
    if isinstance(code, int) and code:
        sys.exit(code)
