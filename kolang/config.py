"""Config dataclasses are the single source of option names, defaults and help text.

A field's docstring (the string literal right under it, as in CleanRL's `Args`) is its help; the
CLI builds its options from the dataclass with `cli_options`, so nothing is written twice.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from functools import lru_cache
from typing import Any

import typer

from kolang.errors import ConfigError


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """{field name: docstring} read from the class source (and its dataclass bases)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


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


def from_kwargs(cls: type, kwargs: dict[str, Any]) -> Any:
    """Build `cls` from CLI keyword arguments (lists become tuples); bad values raise `ConfigError`."""
    names = {f.name for f in dataclasses.fields(cls)}
    clean = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items() if k in names and v is not None}
    try:
        return cls(**clean)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from e


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}
