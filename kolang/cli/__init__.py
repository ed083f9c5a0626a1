"""The `kolang` command line: one typer app; each command lives in its own module here."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from kolang.errors import KolangError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Find, tune and track the language neurons of LLMs.")


@app.callback()
def _root() -> None:
    """Find, tune and track the language neurons of LLMs."""


def _register_commands() -> None:
    # Each module in kolang/cli/ registers its commands on `app` at import (one file per command).
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def _quiet_libraries() -> None:
    # kolang draws its own progress; the libraries' bars and advice would interleave with it.
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    import warnings

    # PEFT reads transformers' renamed `is_gradient_checkpointing` when wrapping a model; not the user's concern.
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit status 2."""
    _register_commands()
    _quiet_libraries()
    try:
        app(args=argv, standalone_mode=False)
    except KolangError as e:
        print(f"kolang: error: {e}", file=sys.stderr)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as e:  # usage errors (unknown option, bad value) and Ctrl-C
        # Typer >= 0.29 carries its own copy of click, so match click's exception classes by name.
        names = {c.__name__ for c in type(e).__mro__}
        if "Abort" in names:
            print("kolang: aborted", file=sys.stderr)
            sys.exit(130)
        if "ClickException" in names:
            print(f"kolang: error: {e.format_message()}", file=sys.stderr)
            sys.exit(2)
        raise
