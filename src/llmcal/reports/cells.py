"""Table cells shared by the terminal, markdown and HTML: which metrics a table shows and how values read.

Every surface formats numbers here, so a value reads the same everywhere: ``n/a`` where it is undefined,
signed changes, percentages for rates. HTML escapes these strings and may wrap them; it never reformats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict

from llmcal.calibrators.temperature import DEFAULT_BOUNDS
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.summary import CalibrationRow, Summary

__all__ = [
    "AT_TEMPERATURE_BOUND",
    "CALIBRATION_COLUMNS",
    "HEADLINE_METRICS",
    "STRATUM_METRICS",
    "SUMMARY_METRICS",
    "TERMINAL_SUMMARY_METRICS",
    "TOP_LABEL_STRATUM_METRICS",
    "calibration_cells",
    "change_cells",
    "change_columns",
    "headline_metrics",
    "interval",
    "metric_cell",
    "number",
    "percent",
    "temperature_at_bound",
    "temperature_cell",
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


def number(value: float | None, digits: int = 4, *, signed: bool = False) -> str:
    """``value`` to ``digits`` decimals (with its sign if ``signed``), or ``n/a`` when undefined.

    Examples:
        >>> number(0.123456), number(-0.5, 2, signed=True), number(float("nan")), number(None)
        ('0.1235', '-0.50', 'n/a', 'n/a')
    """
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def temperature_at_bound(value: float) -> bool:
    """Whether a fitted temperature reached the upper end of the default search interval."""
    return value >= DEFAULT_BOUNDS[1] * (1.0 - 1e-6)


def temperature_cell(value: float) -> str:
    """A fitted temperature to 2 decimals; ``>=20`` where the fit reached the default search bound.

    At the bound the optimum lies at or beyond it (the scores carry almost nothing about the answer, so
    the best fit is near uniform), and the printed bound is not a measured value.

    Examples:
        >>> temperature_cell(2.3712), temperature_cell(19.99999999)
        ('2.37', '>=20')
    """
    return f">={DEFAULT_BOUNDS[1]:g}" if temperature_at_bound(value) else number(value, 2)


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


def interval(low: float | None, high: float | None, digits: int = 4, *, signed: bool = False) -> str:
    """``[low, high]``, each end formatted like :func:`number`.

    Examples:
        >>> interval(0.1, 0.25, 2)
        '[0.10, 0.25]'
    """
    return f"[{number(low, digits, signed=signed)}, {number(high, digits, signed=signed)}]"


def metric_cell(summary: Summary, name: str, digits: int = 4) -> str:
    """Metric ``name``'s value in ``summary``; empty where it was not computed (SCE of top-label input)."""
    metric = summary.metric(name)
    return "" if metric is None else number(metric.value, digits)


def calibration_cells(row: CalibrationRow, digits: int = 4) -> list[str]:
    """The :data:`CALIBRATION_COLUMNS` of a calibration row."""
    values = asdict(row)
    return [number(values[name], digits) for name in CALIBRATION_COLUMNS]


def headline_metrics(computed: Sequence[str]) -> list[str]:
    """The metrics a comparison table and plot show: the headline ones computed, else the first three."""
    return [name for name in computed if name in HEADLINE_METRICS] or list(computed[:3])


def change_columns(level: float, *, ranked: bool) -> list[str]:
    """Column names of a change table (:func:`change_cells`), for an interval of coverage ``level``."""
    columns = ["task", "method", "metric", "base", "aligned", "delta", f"{round(100 * level)}% CI", "CR"]
    return [*columns, "CR rank"] if ranked else columns


def change_cells(item: MetricChange, *, ranked: bool, digits: int = 4) -> list[str]:
    """One row of a change table: the values formatted, the interval signed like the delta."""
    cells = [
        item.task,
        item.method,
        item.metric,
        number(item.base, digits),
        number(item.aligned, digits),
        number(item.delta, digits, signed=True),
        interval(item.delta_low, item.delta_high, digits, signed=True),
        percent(item.change_rate),
    ]
    return [*cells, "" if item.rank is None else str(item.rank)] if ranked else cells
