"""Reliability diagrams drawn from saved bin data, without touching global matplotlib state."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from llmcal.metrics.binning import ReliabilityBins, reliability_bins
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.validation import BinStrategy
from llmcal.reports.cells import number
from llmcal.reports.figures import figure_png, save_figure_atomic
from llmcal.runs.evaluation import EvalResults, file_part

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "SPARSE_BIN_ITEMS",
    "StratumPanel",
    "diagram_pair_png",
    "plot_confidence_histogram",
    "plot_reliability",
    "reliability_png_name",
    "save_reliability_png",
    "save_reliability_pngs",
    "strata_figure",
    "strata_png_name",
]

# Small multiples: panels per row of a per-stratum figure, and each panel's size in inches.
_PANELS_PER_ROW = 4
_PANEL_INCHES = 3.0


SPARSE_BIN_ITEMS = 10
"""Bins with fewer items than this are drawn pale and hatched: their accuracy is too noisy to read."""


def plot_reliability(
    bins: ReliabilityBins,
    ax: Axes,
    *,
    title: str = "",
    ece: float | None = None,
    interval_level: float | None = 0.95,
    legend: bool = True,
) -> Axes:
    """Draws accuracy per confidence bin against the diagonal on ``ax`` and returns it.

    As in Guo et al. (2017): a bar per non-empty bin up to its accuracy, and the gap to the bin's mean
    confidence on top of or inside it (a gap above the bar = overconfident). With ``interval_level`` (by
    default 95%), a whisker spans each bin's Wilson interval of accuracy around the bar's top, and nothing
    else is drawn from the axis, so an interval never reads as a taller bar. Bins of fewer than
    :data:`SPARSE_BIN_ITEMS` items are pale and hatched; every bin's count is written at its foot.
    ``legend=False`` leaves the legend out (small multiples, where one panel's legend serves all).
    """
    filled = bins.counts > 0
    sparse = filled & (bins.counts < SPARSE_BIN_ITEMS)
    _draw_bars(bins, ax, filled, sparse)
    if interval_level is not None:
        _draw_intervals(bins, ax, filled, interval_level)
    _draw_counts(bins, ax, filled)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    heading = title if ece is None else f"{title}  (ECE {number(ece)})".strip()
    if heading:
        ax.set_title(heading, fontsize=10)
    if legend:  # below the axes, where it covers no bar
        ax.legend(handles=legend_handles(interval_level, sparse=bool(sparse.any())), loc="upper center",
                  bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=7, frameon=False)  # fmt: skip
    return ax


def _bin_geometry(bins: ReliabilityBins) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each bin's left edge and width."""
    lower, upper = bins.edges[:-1], bins.edges[1:]
    return lower, upper - lower


def _draw_bars(bins: ReliabilityBins, ax: Axes, filled: NDArray[np.bool_], sparse: NDArray[np.bool_]) -> None:
    """The diagonal, a bar per filled bin up to its accuracy, and the gap to its mean confidence."""
    lower, widths = _bin_geometry(bins)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", linewidth=1, label="perfect calibration")
    # Sparse bins pale and hatched: their accuracy is a handful of answers.
    for rows, alpha, hatch in ((filled & ~sparse, 1.0, None), (sparse, 0.35, "///")):
        if rows.any():
            ax.bar(lower[rows], bins.accuracy[rows], width=widths[rows], align="edge", color="#4C72B0",
                   edgecolor="white", alpha=alpha, hatch=hatch)  # fmt: skip
    gap_bottom = np.minimum(bins.accuracy, bins.mean_confidence)[filled]
    ax.bar(
        lower[filled],
        np.abs(bins.gaps)[filled],
        bottom=gap_bottom,
        width=widths[filled],
        align="edge",
        color="#DD8452",
        alpha=0.6,
        edgecolor="none",
    )


def _draw_intervals(bins: ReliabilityBins, ax: Axes, filled: NDArray[np.bool_], level: float) -> None:
    """A whisker per filled bin spanning its Wilson interval of accuracy at ``level``."""
    lower, widths = _bin_geometry(bins)
    low, high = bins.accuracy_interval(level)
    ax.errorbar(
        (lower + widths / 2)[filled],
        bins.accuracy[filled],
        yerr=[bins.accuracy[filled] - low[filled], high[filled] - bins.accuracy[filled]],
        fmt="none",
        ecolor="0.15",
        elinewidth=0.9,
        capsize=2.5,
        zorder=4,
    )


def _draw_counts(bins: ReliabilityBins, ax: Axes, filled: NDArray[np.bool_]) -> None:
    """Each filled bin's count at its foot, where no whisker or gap covers it.

    Outlined in white, so it reads on a bar and on the background alike.
    """
    from matplotlib import patheffects

    lower, widths = _bin_geometry(bins)
    outline = [patheffects.withStroke(linewidth=2, foreground="white")]
    for centre, count in zip((lower + widths / 2)[filled], bins.counts[filled], strict=True):
        ax.text(centre, 0.015, str(count), ha="center", va="bottom", fontsize=6.5, color="0.1",
                path_effects=outline, zorder=5)  # fmt: skip


def legend_handles(interval_level: float | None, *, sparse: bool) -> list[Any]:
    """The legend entries of :func:`plot_reliability`: one per element drawn (sparse bins if any are)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Line2D([], [], linestyle="--", color="0.5", linewidth=1, label="perfect calibration"),
        Patch(color="#4C72B0", label="accuracy"),
        Patch(color="#DD8452", alpha=0.6, label="gap to mean confidence"),
    ]
    if interval_level is not None:
        handles.append(
            Line2D(
                [],
                [],
                color="0.15",
                linewidth=0.9,
                marker="_",
                markersize=6,
                label=f"{round(100 * interval_level)}% interval of accuracy",
            )
        )
    if sparse:
        handles.append(
            Patch(
                facecolor="#4C72B0",
                alpha=0.35,
                hatch="///",
                edgecolor="white",
                label=f"bin of fewer than {SPARSE_BIN_ITEMS} items",
            )
        )
    return handles


def save_reliability_png(
    bins: ReliabilityBins, path: str | Path, *, title: str = "", ece: float | None = None
) -> None:
    """Renders :func:`plot_reliability` to a PNG file (Agg canvas, no pyplot, no global state)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.5, 5.2), dpi=110, layout="constrained")
    plot_reliability(bins, figure.add_subplot(), title=title, ece=ece)
    save_figure_atomic(figure, path)


def plot_confidence_histogram(
    confidences: NDArray[np.float64],
    correct: NDArray[np.float64],
    ax: Axes,
    *,
    n_bins: int = 20,
    title: str = "",
) -> Axes:
    """Histogram of top-label confidences on ``ax``, stacked by right and wrong answers, and returns it."""
    edges = np.linspace(0.0, 1.0, n_bins + 1).tolist()
    right = confidences[correct > 0.5]
    wrong = confidences[correct <= 0.5]
    ax.hist([right, wrong], bins=edges, stacked=True, color=["#4C72B0", "#C44E52"], label=["right", "wrong"])
    ax.axvline(float(np.mean(confidences)), color="0.2", linestyle="--", linewidth=1, label="mean confidence")
    ax.axvline(float(np.mean(correct)), color="#55A868", linestyle=":", linewidth=1.5, label="accuracy")
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("items")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return ax


def diagram_pair_png(predictions: Predictions, title: str, settings: MetricSettings) -> bytes:
    """PNG of a reliability diagram (interval bands, counts) of ``predictions`` beside their confidences.

    The bins follow ``settings`` (number and strategy), the whiskers its interval level.
    """
    from matplotlib.figure import Figure

    confidences, correct = predictions.confidences, predictions.correct
    strategy: BinStrategy = "quantile" if settings.strategy == "quantile" else "uniform"
    bins = reliability_bins(confidences, correct, n_bins=settings.n_bins, strategy=strategy)
    figure = Figure(figsize=(9.0, 4.6), dpi=90, layout="constrained")
    left, right = figure.subplots(1, 2)
    plot_reliability(bins, left, title=title, interval_level=settings.level)
    what = "predicted option" if predictions.probs is not None else "generated answer"
    plot_confidence_histogram(confidences, correct, right, title=f"confidence of the {what}")
    return figure_png(figure)


class StratumPanel(NamedTuple):
    """One panel of a per-stratum figure: the stratum's label, its bins and its ECE (if known)."""

    label: str
    bins: ReliabilityBins
    ece: float | None = None


def strata_figure(
    panels: Sequence[StratumPanel], *, title: str, interval_level: float | None = 0.95, dpi: int = 90
) -> Figure:
    """Small multiples: one reliability diagram per stratum on shared axes, four to a row.

    Each panel is titled with its stratum, its number of items and its ECE; one legend below them all
    serves every panel. The figure is on its own Agg canvas (no pyplot).
    """
    from matplotlib.figure import Figure

    columns = min(len(panels), _PANELS_PER_ROW)
    rows = -(-len(panels) // columns)
    figure = Figure(
        figsize=(_PANEL_INCHES * columns, _PANEL_INCHES * rows + 0.8), dpi=dpi, layout="constrained"
    )
    axes = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True).ravel()
    for ax, panel in zip(axes, panels, strict=False):
        plot_reliability(
            panel.bins,
            ax,
            title=f"{panel.label}\nn={panel.bins.n_items}",
            ece=panel.ece,
            interval_level=interval_level,
            legend=False,
        )
        ax.label_outer()  # shared axes: tick labels and axis names on the outer panels only
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    sparse = any(bool(((p.bins.counts > 0) & (p.bins.counts < SPARSE_BIN_ITEMS)).any()) for p in panels)
    figure.legend(handles=legend_handles(interval_level, sparse=sparse), loc="outside lower center", ncol=5,
                  fontsize=7, frameon=False)  # fmt: skip
    figure.suptitle(title, fontsize=11)
    return figure


def reliability_png_name(task: str, method: str) -> str:
    """``reliability_<task>_<method>.png``: the diagram of one task x method, each name a :func:`file_part`.

    Examples:
        >>> reliability_png_name("quiz", "sum"), reliability_png_name("../quiz", "sum")
        ('reliability_quiz_sum.png', 'reliability__._quiz-e5385beb_sum.png')
    """
    return f"reliability_{file_part(task)}_{file_part(method)}.png"


def strata_png_name(task: str, method: str, by: str) -> str:
    """``reliability_<task>_<method>_by_<by>.png``: the per-stratum figure of one task x method.

    Each name is a :func:`file_part`: no separator, no leading dot, at most 64 characters.
    """
    return f"reliability_{file_part(task)}_{file_part(method)}_by_{file_part(by)}.png"


def save_reliability_pngs(out: Path, results: EvalResults) -> None:
    """``reliability_<task>_<method>.png`` in ``out`` for every task x confidence method of ``results``.

    Stratified results also get ``reliability_<task>_<method>_by_<by>.png``, a panel per stratum. A
    :data:`llmcal.evaluation.FigureRenderer`: pass it to :func:`llmcal.evaluation.evaluate` to draw the
    diagrams beside the results.
    """
    for task_name, task in results.tasks.items():
        for method, summary in task.methods.items():
            ece = summary.metric("ece")
            if summary.reliability is None:
                continue  # read back from results.json: the bins are in bins.csv, not redrawn
            save_reliability_png(
                summary.reliability,
                out / reliability_png_name(task_name, method),
                title=f"{task_name} / {method}",
                ece=None if ece is None else ece.value,
            )
    _save_strata_pngs(out, results)


def _save_strata_pngs(out: Path, results: EvalResults) -> None:
    for task_name, task in results.tasks.items():
        if task.strata is None:
            continue
        by = task.strata.stratification.by
        for method in task.methods:
            panels = []
            for group in task.strata.groups:
                summary = group.methods[method]
                ece = summary.metric("ece")
                if summary.reliability is not None:
                    panels.append(
                        StratumPanel(group.label, summary.reliability, None if ece is None else ece.value)
                    )
            if panels:
                figure = strata_figure(panels, title=f"{task_name} / {method} by {by}", dpi=110)
                save_figure_atomic(figure, out / strata_png_name(task_name, method, by))
