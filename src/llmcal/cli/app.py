"""The ``llmcal`` entry point: builds the typer app and maps input errors to exit code 2."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from llmcal import __version__
from llmcal.cli import (
    align_command,
    compare_command,
    demo_command,
    eval_command,
    finetune_command,
    from_lm_eval_command,
    metrics_command,
    models_command,
    probe_command,
    report_command,
    tasks_command,
    world_command,
)
from llmcal.errors import InputError

__all__ = ["app", "main"]

EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="llmcal",
    help="Measure, explain and fix the calibration of large language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: in 80 columns it gives each option's help the width left of the longest option
    # name, where rich's boxed panels squeezed it into a column of 15 characters.
    rich_markup_mode=None,
)
app.command("metrics", no_args_is_help=True)(metrics_command.metrics)
app.command("eval", no_args_is_help=True)(eval_command.eval_)
app.command("tasks")(tasks_command.tasks)
app.command("models")(models_command.models)
app.command("demo")(demo_command.demo)
app.command("probe", no_args_is_help=True)(probe_command.probe)
app.command("finetune", no_args_is_help=True)(finetune_command.finetune_command)
app.command("align", no_args_is_help=True)(align_command.align_command)
app.command("compare", no_args_is_help=True)(compare_command.compare)
app.command("from-lm-eval", no_args_is_help=True)(from_lm_eval_command.from_lm_eval)
app.command("report", no_args_is_help=True)(report_command.report)
app.add_typer(world_command.app, name="world")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmcal {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show version."),
) -> None:
    """Measure, explain and fix the calibration of large language models."""


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit code (2 for bad input, with the reason on stderr)."""
    try:
        # Standalone mode lets typer report usage errors itself (exit code 2) and ends in SystemExit.
        app(args=argv, prog_name="llmcal")
    except InputError as error:
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
