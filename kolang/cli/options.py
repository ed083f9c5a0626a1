"""Commands whose options come from config dataclasses: one option a field, its docstring the help.

`@command("tune", TuneConfig)` registers a function as `kolang tune` with its own options (paths,
`--resume` …) followed by one option per `TuneConfig` field, so an option's name, default and help
are written once, in the dataclass. A bool field that defaults to False becomes a plain flag
(`--force`); one that defaults to True or None gets its negation (`--no-filter-groups`, `--no-thinking`).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Collection
from typing import Any

import typer

from kolang.cli import app
from kolang.config import field_docs


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(scalar type, is_sequence) for an annotation like `int`, `float | None`, `tuple[str, ...]`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    if origin in (tuple, list):
        return typing.get_args(tp)[0], True
    if tp is typing.Any:
        return str, False
    return tp, False


def cli_options(cls: type, exclude: Collection[str] = ()) -> list[inspect.Parameter]:
    """One typer option per dataclass field (not marked `metadata={"cli": False}`), the docstring its help."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    params = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is False or f.name in exclude:
            continue
        base, seq = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        flag = "--" + f.name.replace("_", "-")
        # a flag defaulting to True or unset (None: "leave it to the model") can be turned either way
        decl = [f"{flag}/--no-{f.name.replace('_', '-')}"] if base is bool and default is not False else [flag]
        annotation = list[base] if seq else base
        if default is None or (seq and not default):
            annotation = typing.Optional[annotation]
        show = default is not None and not (base is bool and not default)
        opt = typer.Option(list(default) if seq and default else default, *decl, help=docs.get(f.name, ""),
                           show_default=show)
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=annotation))
    return params


def command(name: str, *configs: type, exclude: Collection[str] = ()) -> Callable[[Callable], Callable]:
    """Register the decorated function as `kolang <name>`, its own options first, then one per field of
    each config dataclass (`exclude` names fields the command sets itself)."""
    def register(fn: Callable) -> Callable:
        own = [p for p in inspect.signature(fn).parameters.values() if p.kind != p.VAR_KEYWORD]
        taken = {p.name for p in own}
        generated = [p for cls in configs for p in cli_options(cls, exclude) if p.name not in taken]
        fn.__signature__ = inspect.Signature(own + generated)  # typer reads the options from the signature
        app.command(name)(fn)
        return fn
    return register
