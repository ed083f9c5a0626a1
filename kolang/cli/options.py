"""Typer options generated from a config dataclass: one option a field, its docstring the help."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any

import typer

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


def cli_options(cls: type) -> list[inspect.Parameter]:
    """One typer option per dataclass field, with the field's docstring as help."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    params = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is False:
            continue
        base, seq = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        flag = "--" + f.name.replace("_", "-")
        if base is bool:
            decl = [f"{flag}/--no-{f.name.replace('_', '-')}"]
        else:
            decl = [flag]
        annotation = (list[base] if seq else base)
        if default is None or (seq and not default):
            annotation = typing.Optional[annotation]
        opt = typer.Option(list(default) if seq and default else default, *decl, help=docs.get(f.name, ""),
                           show_default=default is not None)
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=annotation))
    return params
