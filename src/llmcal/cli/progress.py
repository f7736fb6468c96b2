"""Progress on the terminal: one bar per command, and the libraries' own bars kept quiet.

The bar is for commands with a known number of steps (metrics, comparisons); commands that print their
stages (demo, study) silence the hub's and transformers' bars instead.
"""

from __future__ import annotations

import os

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["quiet_transformers", "step_progress"]


def quiet_transformers() -> None:
    """No download, loading or shard-writing bars from the hub and transformers: the command has its own."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


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
