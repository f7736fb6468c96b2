"""Table cells shared by the terminal, markdown and HTML: which metrics a table shows and how values read.

One rule for every number a person reads, in the terminal, markdown and HTML alike:

- a value (a metric, a confidence, an accuracy, a loss, a temperature): 3 decimals, ``0.062``;
- a difference of two values: signed, 3 decimals, ``+0.021``; the ends of its interval signed too;
- an interval: ``[0.058, 0.116]``, its ends as the value they bound;
- a rate (Oh & Hwang's change rate): a signed percentage with 1 decimal, ``-6.6%``; a share of items:
  ``28 of 300`` (a percentage with 1 decimal where one is added, ``9.3%``);
- counts as integers, seconds as whole seconds, memory in GiB with 2 decimals;
- undefined: ``n/a``.

Every surface formats numbers here, so a value reads the same everywhere. HTML escapes these strings and
may wrap them; it never reformats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict

from llmcal.calibrators.temperature import DEFAULT_BOUNDS
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.summary import CalibrationRow, Summary
from llmcal.runs.comparison import UncomparedMethod

__all__ = [
    "AT_TEMPERATURE_BOUND",
    "CALIBRATION_COLUMNS",
    "DECIMALS",
    "HEADLINE_METRICS",
    "STRATUM_METRICS",
    "SUMMARY_METRICS",
    "TERMINAL_SUMMARY_METRICS",
    "TOP_LABEL_STRATUM_METRICS",
    "calibration_cells",
    "change_cells",
    "change_columns",
    "column_title",
    "gib",
    "headline_metrics",
    "interval",
    "metric_cell",
    "number",
    "percent",
    "reasons_cell",
    "seconds",
    "temperature_at_bound",
    "temperature_cell",
    "uncompared_line",
]

# Comparisons: what the terminal table, the plot and the HTML table show; JSON and markdown carry all.
HEADLINE_METRICS = ("accuracy", "ece", "sce")
# Evaluation summaries: the metrics of the HTML table, and of the terminal's, which drops AUROC to fit
# 80 columns; results.json carries all.
SUMMARY_METRICS = ("accuracy", "ece", "sce", "brier", "smooth_ece", "auroc")
TERMINAL_SUMMARY_METRICS = SUMMARY_METRICS[:-1]
OPEN_SUMMARY_METRICS = ("accuracy", "ece", "top_brier", "smooth_ece", "auroc")
"""The summary of generated answers: top-label metrics only (an answer has no option probabilities)."""
# Per-stratum rows: the size and mean confidence beside these, so accuracy and confidence read side by
# side; three decimals in the terminal keep a row of them, the stratum and the method within 80 columns.
STRATUM_METRICS = ("accuracy", "ece", "sce", "brier")
TOP_LABEL_STRATUM_METRICS = ("accuracy", "ece", "top_brier", "auroc")
"""The per-stratum metrics of predictions without option probabilities (generated answers)."""


def stratum_metrics(summary: Summary) -> tuple[str, ...]:
    """The per-stratum metrics that apply to ``summary``'s predictions."""
    return STRATUM_METRICS if summary.n_options is not None else TOP_LABEL_STRATUM_METRICS


# The columns of a calibration row (fine-tuning before/after, the demo's variants), after its size.
CALIBRATION_COLUMNS = tuple(name for name in CalibrationRow.__dataclass_fields__ if name != "n_items")


DECIMALS = 3
"""Decimals of every value, difference and interval end a person reads."""


def column_title(name: str) -> str:
    """A column's heading: the field or metric name with spaces for underscores (``mean confidence``)."""
    return name.replace("_", " ")


def number(value: float | None, *, signed: bool = False) -> str:
    """``value`` to :data:`DECIMALS` decimals (with its sign if ``signed``), or ``n/a`` when undefined.

    Examples:
        >>> number(0.123456), number(-0.5, signed=True), number(float("nan")), number(None)
        ('0.123', '-0.500', 'n/a', 'n/a')
    """
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:+.{DECIMALS}f}" if signed else f"{value:.{DECIMALS}f}"


def seconds(value: float) -> str:
    """A duration in whole seconds.

    Examples:
        >>> seconds(61.4)
        '61'
    """
    return f"{value:.0f}"


def gib(value: float) -> str:
    """An amount of memory in GiB, 2 decimals.

    Examples:
        >>> gib(1.6149)
        '1.61'
    """
    return f"{value:.2f}"


def temperature_at_bound(value: float) -> bool:
    """Whether a fitted temperature reached the upper end of the default search interval."""
    return value >= DEFAULT_BOUNDS[1] * (1.0 - 1e-6)


def temperature_cell(value: float) -> str:
    """A fitted temperature as every value reads; ``>=20`` where the fit reached the default search bound.

    At the bound the optimum lies at or beyond it (the scores carry almost nothing about the answer, so
    the best fit is near uniform), and the printed bound is not a measured value.

    Examples:
        >>> temperature_cell(2.3712), temperature_cell(19.99999999)
        ('2.371', '>=20')
    """
    return f">={DEFAULT_BOUNDS[1]:g}" if temperature_at_bound(value) else number(value)


AT_TEMPERATURE_BOUND = (
    f">={DEFAULT_BOUNDS[1]:g}: the search bound; scores that barely tell the options apart are best made "
    "near uniform"
)


def percent(rate: float | None) -> str:
    """A rate as a signed percentage, or ``n/a`` when undefined.

    Examples:
        >>> percent(0.256), percent(None)
        ('+25.6%', 'n/a')
    """
    return "n/a" if rate is None or math.isnan(rate) else f"{100 * rate:+.1f}%"


def interval(low: float | None, high: float | None, *, signed: bool = False) -> str:
    """``[low, high]``, each end formatted like :func:`number`.

    Examples:
        >>> interval(0.1, 0.25), interval(-0.01, 0.2, signed=True)
        ('[0.100, 0.250]', '[-0.010, +0.200]')
    """
    return f"[{number(low, signed=signed)}, {number(high, signed=signed)}]"


def metric_cell(summary: Summary, name: str) -> str:
    """Metric ``name``'s value in ``summary``; empty where it was not computed (SCE of top-label input)."""
    metric = summary.metric(name)
    return "" if metric is None else number(metric.value)


def calibration_cells(row: CalibrationRow) -> list[str]:
    """The :data:`CALIBRATION_COLUMNS` of a calibration row."""
    values = asdict(row)
    return [number(values[name]) for name in CALIBRATION_COLUMNS]


def reasons_cell(problems: dict[str, int]) -> str:
    """Why a method gave answers no confidence, with how many: ``"no number: 30, a negative number: 2"``."""
    return ", ".join(f"{problem}: {count}" for problem, count in problems.items())


def headline_metrics(computed: Sequence[str]) -> list[str]:
    """The metrics a comparison table and plot show: the headline ones computed, else the first three."""
    return [name for name in computed if name in HEADLINE_METRICS] or list(computed[:3])


def change_columns(level: float, *, ranked: bool) -> list[str]:
    """Column names of a change table (:func:`change_cells`), for an interval of coverage ``level``."""
    columns = ["task", "method", "metric", "base", "aligned", "delta", f"{round(100 * level)}% CI", "CR"]
    return [*columns, "CR rank"] if ranked else columns


def change_cells(item: MetricChange, *, ranked: bool) -> list[str]:
    """One row of a change table: the values formatted, the interval signed like the delta."""
    cells = [
        item.task,
        item.method,
        item.metric,
        number(item.base),
        number(item.aligned),
        number(item.delta, signed=True),
        interval(item.delta_low, item.delta_high, signed=True),
        percent(item.change_rate),
    ]
    return [*cells, "" if item.rank is None else str(item.rank)] if ranked else cells


def uncompared_line(item: UncomparedMethod) -> str:
    """Why a task x method of a comparison has no rows: ``cities/verbal: not compared: <reason>``."""
    return f"{item.task}/{item.method}: not compared: {item.reason}"
