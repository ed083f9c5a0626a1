"""Config dataclasses are the single source of option names, defaults and help text.

A field's docstring (the string literal right under it, as in CleanRL's `Args`) is its help; the
CLI builds its options from the dataclass (`kolang.cli.options`), so nothing is written twice.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from functools import lru_cache
from typing import Any

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
