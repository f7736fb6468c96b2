"""Terminal tables of typed results, built from the table cells every surface shares.

Every table fits a standard 80-column terminal: no vertical rules (a rule under the header only), numbers
and intervals never wrap, and names that do not fit fold in their own column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.table import Table

from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.strata import Strata
from llmcal.metrics.summary import CalibrationRow, Summary
from llmcal.reports.cells import (
    AT_TEMPERATURE_BOUND,
    CALIBRATION_COLUMNS,
    OPEN_SUMMARY_METRICS,
    STRATUM_METRICS,
    TERMINAL_SUMMARY_METRICS,
    calibration_cells,
    change_cells,
    change_columns,
    column_title,
    interval,
    metric_cell,
    number,
    reasons_cell,
    stratum_metrics,
    temperature_at_bound,
    temperature_cell,
    uncompared_line,
)
from llmcal.runs.comparison import UncomparedMethod
from llmcal.runs.demo import DemoRow, RealModelResults
from llmcal.runs.evaluation import EvalResults, TaskStrata

__all__ = [
    "before_after_table",
    "change_table",
    "demo_rows_table",
    "metric_table",
    "strata_table",
    "stratum_summaries_table",
    "summary_table",
    "terminal_table",
    "uncompared_lines",
]

_TEXT_COLUMNS = ("task", "method", "metric", "variant", "people", "subject", "")


def terminal_table(title: str | None = None, caption: str | None = None) -> Table:
    """An empty table in the style of every llmcal terminal table (see the module docstring)."""
    # At least as wide as its title (within 80 columns), so a narrow table does not break its title up.
    return Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        min_width=min(len(title or ""), 80),
    )


def _add_columns(table: Table, columns: Sequence[str]) -> None:
    for column in columns:
        if column in _TEXT_COLUMNS:
            table.add_column(column_title(column), justify="left", overflow="fold")
        else:
            table.add_column(column_title(column), justify="right", no_wrap=True)


def summary_table(results: EvalResults, title: str = "calibration by task and method") -> Table:
    """One row per task x confidence method: items it covers and the :data:`TERMINAL_SUMMARY_METRICS`."""
    table = terminal_table(title=title)
    open_ended = all(task.answers is not None for task in results.tasks.values())
    metrics = OPEN_SUMMARY_METRICS if open_ended else TERMINAL_SUMMARY_METRICS
    _add_columns(table, ["task", "method", "n", *metrics])
    for task_name, task in results.tasks.items():
        for method, summary in task.methods.items():
            cells = [metric_cell(summary, name) for name in metrics]
            table.add_row(task_name, method, str(summary.n_items), *cells)
    return table


def answer_lines(results: EvalResults) -> list[str]:
    """For each open-ended task: how good its answers are, and every answer a method gave no confidence.

    Those answers are left out of that method's metrics, which is said here, with the reasons, so a
    method's ``n`` below the task's size is never a silent drop; a method that gave none a confidence
    (its row all ``n/a``) is said to have no metrics.
    """
    lines = []
    for name, task in results.tasks.items():
        stats = task.answers
        if stats is None:
            continue
        lines.append(
            f"{name}: exact match {number(stats.exact_match)}, token F1 {number(stats.token_f1)} "
            f"over {task.n_items} generated answers."
        )
        for method, missing in stats.no_confidence.items():
            if not missing:
                continue
            reasons = reasons_cell(stats.problems.get(method, {}))
            if missing >= task.n_items:
                lines.append(
                    f"{name}/{method}: {missing} of {task.n_items} answers gave no confidence ({reasons}); "
                    "it has no metrics."
                )
                continue
            lines.append(
                f"{name}/{method}: {missing} of {task.n_items} answers gave no confidence ({reasons}); "
                f"its metrics are over the other {task.n_items - missing}."
            )
    return lines


_STRATA_CAPTION = "conf = mean confidence in the answer (the chosen option or the generated one)"


def _strata_title(name: str, by: str, kind: str, n_strata: int) -> str:
    how = f"{n_strata} quantile strata" if kind == "quantile" else "one stratum per value"
    return f"{name}: calibration by {by} ({how})"


def _add_stratum_columns(table: Table, by: str, metrics: Sequence[str]) -> None:
    # 14 characters hold a range of two 3-digit numbers ("1.23e5–4.56e6"); longer values fold.
    table.add_column(by, max_width=14, overflow="fold")
    for column in ("n", metrics[0], "conf", *metrics[1:]):
        table.add_column(column_title(column), justify="right", no_wrap=True)


def _stratum_cells(label: str, summary: Summary, mean_confidence: float) -> list[str]:
    """A stratum's label, size, accuracy, mean confidence and calibration errors, to 3 decimals."""
    accuracy, *errors = (metric_cell(summary, name) for name in stratum_metrics(summary))
    return [label, str(summary.n_items), accuracy, number(mean_confidence), *errors]


def strata_table(task: str, strata: TaskStrata) -> Table:
    """One row per method x stratum of a task: size, accuracy, mean confidence and calibration errors.

    Rows are grouped by method (its name on its first row only), so a method's strata read downwards in
    increasing order of the field.
    """
    by = strata.stratification.by
    table = terminal_table(
        title=_strata_title(task, by, strata.kind, len(strata.groups)), caption=_STRATA_CAPTION
    )
    table.add_column("method")
    methods = list(strata.groups[0].methods) if strata.groups else []
    first = strata.groups[0].methods[methods[0]] if methods else None
    _add_stratum_columns(table, by, stratum_metrics(first) if first else STRATUM_METRICS)
    for method in methods:
        for index, group in enumerate(strata.groups):
            table.add_row(
                method if index == 0 else "",
                *_stratum_cells(group.label, group.methods[method], group.mean_confidence[method]),
                end_section=index == len(strata.groups) - 1,
            )
    return table


def stratum_summaries_table(
    name: str, by: str, strata: Strata, summaries: Sequence[Summary], mean_confidences: Sequence[float]
) -> Table:
    """One row per stratum of one set of predictions (``llmcal metrics --by``), as :func:`strata_table`."""
    table = terminal_table(
        title=_strata_title(name, by, strata.kind, len(strata.strata)), caption=_STRATA_CAPTION
    )
    _add_stratum_columns(table, by, stratum_metrics(summaries[0]) if summaries else STRATUM_METRICS)
    for stratum, summary, mean_confidence in zip(strata.strata, summaries, mean_confidences, strict=True):
        table.add_row(*_stratum_cells(stratum.label, summary, mean_confidence))
    return table


def metric_table(summary: Summary) -> Table:
    """Every metric of one summary with its interval and what it measures."""
    settings = summary.settings
    level = round(settings.level * 100)
    options = "top-label only" if summary.n_options is None else f"{summary.n_options} options"
    table = terminal_table(
        title=f"{Path(summary.source).name}: {summary.n_items:,} items, {options}",
        caption=(
            f"{settings.n_bins} {settings.strategy} bins; {level}% bootstrap (percentile, re-centred) over "
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
    table = terminal_table(title=title)
    _add_columns(table, change_columns(level, ranked=ranked))
    for item in changes:
        table.add_row(*change_cells(item, ranked=ranked))
    return table


def uncompared_lines(uncompared: Sequence[UncomparedMethod], pair: str) -> list[str]:
    """Each task x method of ``pair`` a comparison left out (no item has a confidence in both runs), with why.

    Printed under the pair's :func:`change_table`, so a method missing from it is never a silent drop.
    """
    return [uncompared_line(item) for item in uncompared if item.pair == pair]


def before_after_table(title: str, before: CalibrationRow, after: CalibrationRow) -> Table:
    """A calibration row before and after training (fine-tuning and alignment)."""
    table = terminal_table(title=title)
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
    compact: bool = False,
) -> Table:
    """Variants per group of test items; a variant's name shows on its first row only.

    ``compact`` keeps accuracy, mean confidence, ECE and SCE only, so long variant names fit whole in 80
    columns; otherwise every calibration column is shown and long names fold.
    """
    table = terminal_table(title=title, caption=caption)
    if compact:
        table.add_column("variant", no_wrap=True)
    else:
        table.add_column("variant", max_width=18, overflow="fold")
    table.add_column(group, no_wrap=True)
    headers = ("accuracy", "conf.", "ECE", "SCE") if compact else CALIBRATION_COLUMNS
    for column in ("n", *headers):
        table.add_column(column_title(column), justify="right", no_wrap=True)
    for position, row in enumerate(rows):
        first = position == 0 or rows[position - 1].variant != row.variant
        last = position == len(rows) - 1 or rows[position + 1].variant != row.variant
        calibration = row.calibration
        if compact:
            values = (calibration.accuracy, calibration.mean_confidence, calibration.ece, calibration.sce)
            cells = [number(value) for value in values]
        else:
            cells = calibration_cells(calibration)
        table.add_row(
            row.variant if first else "", row.group, str(calibration.n_items), *cells, end_section=last
        )
    return table


def real_model_tables(real: RealModelResults) -> tuple[Table, Table]:
    """The demo's real-model part: each method before and after its temperature, and ``sum`` by stratum.

    Only the numbers the story needs, so both tables fit 80 columns; the HTML report has every column.
    """
    rows = {(row.variant, row.group): row.calibration for row in real.rows}
    methods = terminal_table(
        title=f"{real.model}: {real.n_test} real fact questions",
        caption=f"T: temperature fitted on {real.n_calibration} held-out questions"
        + (f"; {AT_TEMPERATURE_BOUND}" if any(map(temperature_at_bound, real.temperatures.values())) else ""),
    )
    for column in ("method", "accuracy", "conf.", "ECE", "SCE", "Brier", "T", "ECE (T)"):
        methods.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    for method, temperature in real.temperatures.items():
        raw, scaled = rows[(method, "all")], rows[(f"{method} + temperature", "all")]
        methods.add_row(
            method,
            *(number(value) for value in (raw.accuracy, raw.mean_confidence, raw.ece, raw.sce, raw.brier)),
            temperature_cell(temperature),
            number(scaled.ece),
        )
    strata = terminal_table(
        title=f"{real.model} by {real.by}, method sum",
        caption="confidence above accuracy = overconfident",
    )
    for column in (real.by, "n", "accuracy", "conf.", "ECE", "ECE (T)", "conf. (T)"):
        strata.add_column(column, justify="left" if column == real.by else "right", no_wrap=True)
    for label in real.strata:
        raw, scaled = rows[("sum", label)], rows[("sum + temperature", label)]
        strata.add_row(
            label,
            str(raw.n_items),
            *(number(value) for value in (raw.accuracy, raw.mean_confidence, raw.ece)),
            number(scaled.ece),
            number(scaled.mean_confidence),
        )
    return methods, strata
