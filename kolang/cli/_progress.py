"""Rich progress bars shared by the commands: texts read, tokens/s, and a final summary line."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


@contextmanager
def reading(description: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over `total` texts that shows tokens/s; yields `update(texts_done, tokens_done)`."""
    start = time.perf_counter()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task(description, total=total, rate="")

        def update(texts: int, tokens: int) -> None:
            dt = max(time.perf_counter() - start, 1e-9)
            bar.update(task, completed=texts, rate=f"{tokens / dt:,.0f} tok/s")

        yield update
