"""kolang: find, tune and track the language neurons of multilingual decoder LLMs."""

from __future__ import annotations

__version__ = "0.1.0"

from kolang.errors import KolangError

__all__ = ["KolangError", "__version__"]
