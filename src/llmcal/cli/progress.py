"""The progress bar of commands that work through a known number of steps (metrics, comparisons)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["step_progress"]


def step_progress(console: Console) -> Progress:
    """A transient bar on ``console`` (stderr) naming the current step; hidden when it is not a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
