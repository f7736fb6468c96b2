"""``llmcal calibrate RUN [--apply-to RUN2]``: calibrated probabilities from every confidence method."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llmcal.cli.metric_options import (
    DEFAULTS,
    MAX_SEED,
    Level,
    NBins,
    NResamples,
    Strategy,
    metric_settings,
)
from llmcal.cli.option_values import comma_list
from llmcal.cli.out_paths import check_out_dir
from llmcal.cli.progress import step_progress
from llmcal.cli.tables import terminal_table
from llmcal.reports.cells import number

if TYPE_CHECKING:
    from rich.table import Table

    from llmcal.metrics.settings import MetricSettings
    from llmcal.metrics.summary import Summary
    from llmcal.runs.eval_run import EvalRun
    from llmcal.runs.recalibration import RecalibrationResults

__all__ = ["calibrate"]

_DEFAULT_CALIBRATORS = "isotonic,platt,histogram"


def calibrate(
    run: Annotated[
        Path, typer.Argument(help="The `llmcal eval` output directory whose items the calibrators fit.")
    ],
    fit_share: Annotated[
        float,
        typer.Option(
            "--fit-on",
            help="Share of each task's items to fit on, in (0, 1); the rest measure the calibrators. "
            "With --apply-to up to 1 (every item).",
        ),
    ] = 0.5,
    apply_to: Annotated[
        Path | None,
        typer.Option(
            help="Measure on this `llmcal eval` output instead of RUN's other items (items fitted on are "
            "left out)."
        ),
    ] = None,
    calibrators: Annotated[
        str, typer.Option(help="Comma-separated top-label calibrators.")
    ] = _DEFAULT_CALIBRATORS,
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated confidence methods (default: every one of RUN).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write run.json and calibration.json here (default: RUN-calibrated beside RUN)."),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of the split and the bootstrap.")] = 0,
    n_resamples: NResamples = DEFAULTS.n_resamples,
    n_bins: NBins = DEFAULTS.n_bins,
    strategy: Strategy = DEFAULTS.strategy,
    level: Level = DEFAULTS.level,
) -> None:
    """Fit calibrators on part of an evaluation and measure every method before and after.

    \f
    Why it is long: typer reads a command's options from its parameters, one each; the work is in the
    named steps below.
    """  # noqa: D301 (the form feed ends the help text Click shows; what follows is for readers of the code)
    from llmcal.recalibration import check_recalibration_out, save_recalibration
    from llmcal.runs.eval_run import read_eval_run

    destination = out if out is not None else _default_out(run)
    check_out_dir(destination)
    settings = metric_settings(n_bins, strategy, n_resamples, level, seed)
    fitted = read_eval_run(run)
    applied = None if apply_to is None else read_eval_run(apply_to)
    check_recalibration_out(destination)
    results = _recalibrate_with_progress(
        fitted,
        applied,
        fit_share=fit_share,
        calibrators=comma_list(calibrators),
        methods=None if methods is None else comma_list(methods),
        settings=settings,
    )
    save_recalibration(destination, results, fitted, applied)
    _print_results(results, destination)


def _default_out(run: Path) -> Path:
    """``<RUN>-calibrated`` beside RUN (``.`` is named by the directory it is)."""
    name = run.name or run.resolve().name
    return (run.parent if run.name else run.resolve().parent) / f"{name}-calibrated"


def _recalibrate_with_progress(
    run: EvalRun,
    apply_to: EvalRun | None,
    *,
    fit_share: float,
    calibrators: list[str],
    methods: list[str] | None,
    settings: MetricSettings,
) -> RecalibrationResults:
    """:func:`llmcal.recalibration.recalibrate` with a progress bar over its summaries on stderr."""
    from llmcal.recalibration import recalibrate

    with step_progress(Console(stderr=True, markup=False)) as progress:
        bar = progress.add_task("fitting and bootstrapping", total=None)

        def advance(done: int, total: int, step: str) -> None:
            progress.update(bar, completed=done, total=total, description=escape(step))

        return recalibrate(
            run,
            fit_share=fit_share,
            apply_to=apply_to,
            calibrators=calibrators,
            methods=methods,
            settings=settings,
            seed=settings.seed,
            on_step=advance,
        )


def _print_results(results: RecalibrationResults, out: Path) -> None:
    """The before/after table, what was left out, and where the files are."""
    console = Console(markup=False)
    console.print(_before_after_table(results))
    # Lines naming paths are never broken: a path split across lines cannot be copied.
    if results.apply_to is not None:
        for task, count in results.left_out.items():
            line = f"{task}: {count} items of {results.apply_to.path} left out (fitted on)"
            console.print(line, highlight=False, soft_wrap=True)
    console.print(f"wrote {out}/calibration.json and run.json", highlight=False, soft_wrap=True)
    console.print(f"draw them: llmcal report {out}", highlight=False, soft_wrap=True)


def _before_after_table(results: RecalibrationResults) -> Table:
    """Per task x method x calibrator: items fitted on / measured on, ECE and AUROC before -> after."""
    table = terminal_table(title="calibration before → after, on items not fitted on")
    for column in ("task", "method", "calibrator"):
        table.add_column(column, justify="left", overflow="fold")
    for column in ("fit/eval", "ECE", "AUROC"):
        table.add_column(column, justify="right", no_wrap=True)
    for entry in results.methods:
        for calibrated in entry.calibrated:
            cells = [
                f"{number(_value(entry.before, name))}→{number(_value(calibrated.after, name))}"
                for name in ("ece", "auroc")
            ]
            table.add_row(
                entry.task, entry.method, calibrated.calibrator, f"{entry.n_fit}/{entry.n_eval}", *cells
            )
    return table


def _value(summary: Summary, name: str) -> float | None:
    metric = summary.metric(name)
    return None if metric is None else metric.value
