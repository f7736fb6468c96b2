"""Terminal tables of typed results, built from the table cells every surface shares."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.summary import CalibrationRow, Summary
from llmcal.reports.cells import (
    CALIBRATION_COLUMNS,
    TERMINAL_SUMMARY_METRICS,
    calibration_cells,
    change_cells,
    change_columns,
    interval,
    metric_cell,
    number,
)
from llmcal.runs.demo import DemoRow
from llmcal.runs.evaluation import EvalResults

__all__ = [
    "before_after_table",
    "change_table",
    "demo_rows_table",
    "metric_table",
    "summary_table",
]

_TEXT_COLUMNS = ("task", "method", "metric", "variant", "people")


def _add_columns(table: Table, columns: Sequence[str]) -> None:
    for column in columns:
        table.add_column(column, justify="left" if column in _TEXT_COLUMNS else "right")


def summary_table(results: EvalResults, title: str = "calibration by task and method") -> Table:
    """One row per task x confidence method: size and the :data:`TERMINAL_SUMMARY_METRICS`."""
    table = Table(title=title)
    _add_columns(table, ["task", "method", "n", *TERMINAL_SUMMARY_METRICS])
    for task_name, task in results.tasks.items():
        for method, summary in task.methods.items():
            cells = [metric_cell(summary, name) for name in TERMINAL_SUMMARY_METRICS]
            table.add_row(task_name, method, str(task.n_items), *cells)
    return table


def metric_table(summary: Summary) -> Table:
    """Every metric of one summary with its interval and what it measures."""
    settings = summary.settings
    level = round(settings.level * 100)
    options = "top-label only" if summary.n_options is None else f"{summary.n_options} options"
    table = Table(
        title=f"{Path(summary.source).name}: {summary.n_items:,} items, {options}",
        caption=(
            f"{settings.n_bins} {settings.strategy} bins; {level}% percentile bootstrap over "
            f"{settings.n_resamples} resamples (seed {settings.seed})"
        ),
    )
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_column(f"{level}% CI", justify="right")
    table.add_column("what it measures", style="dim")
    for metric in summary.metrics:
        undefined = metric.value != metric.value  # NaN: undefined on this data
        table.add_row(
            metric.name,
            number(metric.value),
            "" if undefined else interval(metric.ci_low, metric.ci_high),
            metric.summary,
        )
    return table


def change_table(changes: Sequence[MetricChange], *, title: str, level: float, ranked: bool) -> Table:
    """One row per task x method x metric of a comparison."""
    table = Table(title=title)
    _add_columns(table, change_columns(level, ranked=ranked))
    for item in changes:
        table.add_row(*change_cells(item, ranked=ranked))
    return table


def before_after_table(title: str, before: CalibrationRow, after: CalibrationRow) -> Table:
    """A calibration row before and after training (fine-tuning and alignment)."""
    table = Table(title=title)
    _add_columns(table, ["", *CALIBRATION_COLUMNS])
    for stage, row in (("before", before), ("after", after)):
        table.add_row(stage, *calibration_cells(row))
    return table


def demo_rows_table(
    rows: Sequence[DemoRow],
    *,
    title: str = "test people: calibration per variant",
    caption: str = "known = facts were in pretraining",
    group: str = "people",
) -> Table:
    """Variants per group of test items; a variant's name shows on its first row only."""
    table = Table(title=title, caption=caption)
    table.add_column("variant", max_width=18, overflow="fold")
    table.add_column(group, no_wrap=True)
    for column in ("n", *CALIBRATION_COLUMNS):
        table.add_column(column, justify="right", no_wrap=True)
    for position, row in enumerate(rows):
        first = position == 0 or rows[position - 1].variant != row.variant
        last = position == len(rows) - 1 or rows[position + 1].variant != row.variant
        cells = calibration_cells(row.calibration, 3)
        table.add_row(
            row.variant if first else "", row.group, str(row.calibration.n_items), *cells, end_section=last
        )
    return table
