"""``llmcal world build``: generate a knowledge world and pretrain its tiny model."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from llmcal.cli.metric_options import MAX_SEED
from llmcal.cli.out_paths import check_out_dir
from llmcal.reports.cells import number
from llmcal.world.build import build_world
from llmcal.world.presets import PRESETS, preset
from llmcal.world.pretraining import PassReport

__all__ = ["app", "pretraining_progress"]

app = typer.Typer(help="The synthetic knowledge world.", no_args_is_help=True)


def pretraining_progress(console: Console, max_passes: int) -> tuple[Progress, Callable[[PassReport], None]]:
    """A progress bar over pretraining passes showing loss and fact recall, and the callback feeding it."""
    progress = Progress(
        TextColumn("pretraining"),
        BarColumn(),
        TextColumn("pass {task.completed}/{task.total}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    task = progress.add_task("pretraining", total=max_passes, status="")

    def on_pass(report: PassReport) -> None:
        recall = "" if report.recall is None else f"recall {number(report.recall)}"
        progress.update(task, completed=report.number, status=f"loss {number(report.loss)} {recall}")

    return progress, on_pass


@app.command("build")
def build(
    out: Annotated[Path, typer.Option(help="Directory to write the world into.")],
    preset_name: Annotated[str, typer.Option("--preset", help=f"One of {', '.join(PRESETS)}.")] = "default",
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="World, options and model seed.")] = 0,
) -> None:
    """Generate a world, pretrain a tiny GPT-2 until it recalls the known facts, and export MC tasks."""
    check_out_dir(out)
    config = preset(preset_name, seed=seed)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    err = Console(stderr=True, markup=False)
    progress, on_pass = pretraining_progress(err, config.pretrain.max_passes)
    with progress:
        world = build_world(config, out, on_pass=on_pass)
    summary = world.summary
    Console(markup=False).print(
        f"built {out}: {summary['n_entities']} people ({summary['n_known_entities']} known), "
        f"{len(summary['pretraining'])} pretraining passes; recall of known facts "
        f"{number(summary['recall_known'])}, of unknown {number(summary['recall_unknown'])} "
        f"(chance {number(summary['recall_chance'])}); items {summary['items']}"
    )
