"""Progress of the pipeline's long stages. The pipeline never draws: the command line hands it a `Show`
(`kolang.cli._common.progress`: a bar on a terminal, a plain line every few seconds when piped) and the stages tick."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

Tick = Callable[[int], None]  # a stage's progress: how many of its units (steps, completions) are done
# Opens a progress display for a stage's `total` units and yields its Tick.
Show = Callable[[str, int], AbstractContextManager[Callable[..., None]]]


@contextmanager
def ticking(show: Show | None, name: str, total: int) -> Iterator[Tick | None]:
    """`show(name, total)` opened around a piece of work, yielding its Tick; None (nothing shown) without `show`."""
    if show is None:
        yield None
        return
    with show(name, total) as update:
        yield update


def shown(show: Show | None, name: str, total: int, fn: Callable[[Tick | None], dict[str, Any]]
          ) -> Callable[[], dict[str, Any]]:
    """A stage function that runs `fn(tick)` inside `show(name, total)`; opened only when the stage runs, so a
    stage reused from the ledger shows nothing."""
    def stage() -> dict[str, Any]:
        with ticking(show, name, total) as tick:
            return fn(tick)
    return stage


class Phases:
    """An organism build's progress callback (`phase, done, total`, as `build(progress=…)` calls it) shown through
    `show`: one display a phase, named `prefix` + the phase, the previous one closed when the next opens."""

    def __init__(self, show: Show | None, prefix: str = "") -> None:
        self.show, self.prefix = show, prefix
        self.open: tuple[str, AbstractContextManager[Callable[..., None]], Callable[..., None]] | None = None

    def __enter__(self) -> Callable[[str, int, int], None] | None:
        return None if self.show is None else self.update

    def update(self, phase: str, done: int, total: int) -> None:
        if self.open is None or self.open[0] != phase:
            self._close(None, None, None)
            ctx = self.show(self.prefix + phase, total)
            self.open = (phase, ctx, ctx.__enter__())
        self.open[2](done)

    def _close(self, *exc: Any) -> None:
        if self.open is not None:
            self.open[1].__exit__(*exc)
            self.open = None

    def __exit__(self, *exc: object) -> None:
        self._close(*exc)
