"""Progress bars (rich) behind the library's progress hook, `skybutler.types.Progress`.

Bulk operations call ``progress(phase, done, total)``; `progress_bar` turns those calls into one bar per phase
on stderr.  Bars are off when stderr is not a terminal (scripts, pipes, CI logs) or with ``--no-progress``; the
hook is then ``None`` and the operation pays nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from skybutler.types import Progress

__all__ = ["RichProgress", "progress_bar", "progress_wanted", "stderr_is_terminal"]


def progress_wanted(ctx: click.Context) -> bool:
    """Whether to draw bars: asked for (no ``--no-progress``) and stderr is a terminal."""
    root = ctx.find_root()
    wanted = bool((root.obj or {}).get("progress", True))
    return wanted and stderr_is_terminal()


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (bars would garble a log file or a pipe)."""
    return sys.stderr.isatty()


class RichProgress:
    """A `Progress` hook drawing one rich bar per phase (a phase's first call creates its bar)."""

    def __init__(self, bars: Any) -> None:
        self._bars = bars
        self._tasks: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        task = self._tasks.get(phase)
        if task is None:
            task = self._tasks[phase] = self._bars.add_task(phase, total=total)
        self._bars.update(task, completed=done, total=total)


@contextmanager
def progress_bar(ctx: click.Context, *, force: bool = False) -> Iterator[Progress | None]:
    """Yield a progress hook for the operation run in the block, or ``None`` when bars are off.

    ``force`` draws even off a terminal (for tests of the adapter itself).
    """
    wanted = progress_wanted(ctx)
    if not (force or wanted):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(file=sys.stderr, force_terminal=True if force or wanted else None)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        yield RichProgress(bars)
