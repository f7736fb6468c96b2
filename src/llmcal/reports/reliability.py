"""Reliability diagrams drawn from saved bin data, without touching global matplotlib state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from llmcal.atomic import save_figure_atomic
from llmcal.metrics.binning import ReliabilityBins
from llmcal.runs.evaluation import EvalResults

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "plot_confidence_histogram",
    "plot_reliability",
    "save_reliability_png",
    "save_reliability_pngs",
]


def plot_reliability(
    bins: ReliabilityBins,
    ax: Axes,
    *,
    title: str = "",
    ece: float | None = None,
    interval_level: float | None = None,
) -> Axes:
    """Draws accuracy per confidence bin against the diagonal on ``ax`` and returns it.

    Bars show each non-empty bin's accuracy over its confidence range; the red part is the gap to the
    bin's mean confidence (below the diagonal = overconfident). Bin counts are written above the bars.
    With ``interval_level`` (e.g. 0.95), a band and whiskers show each bin's Wilson interval of accuracy,
    so a gap in a bin of a handful of items reads as the noise it is.
    """
    filled = bins.counts > 0
    lower, upper = bins.edges[:-1], bins.edges[1:]
    widths = upper - lower
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", linewidth=1, label="perfect calibration")
    ax.bar(
        lower[filled],
        bins.accuracy[filled],
        width=widths[filled],
        align="edge",
        color="#4C72B0",
        edgecolor="white",
        label="accuracy",
    )
    gap_bottom = np.minimum(bins.accuracy, bins.mean_confidence)[filled]
    gap_height = np.abs(bins.gaps)[filled]
    ax.bar(
        lower[filled],
        gap_height,
        bottom=gap_bottom,
        width=widths[filled],
        align="edge",
        color="#DD8452",
        alpha=0.6,
        edgecolor="none",
        label="gap to mean confidence",
    )
    if interval_level is not None:
        low, high = bins.accuracy_interval(interval_level)
        centres = (lower + widths / 2)[filled]
        ax.fill_between(
            centres, low[filled], high[filled], color="0.1", alpha=0.18, step="mid", zorder=3, linewidth=0,
            label=f"{round(100 * interval_level)}% interval of accuracy",
        )  # fmt: skip
        ax.errorbar(
            centres,
            bins.accuracy[filled],
            yerr=[bins.accuracy[filled] - low[filled], high[filled] - bins.accuracy[filled]],
            fmt="none",
            ecolor="0.2",
            elinewidth=0.8,
            capsize=2,
            zorder=4,
        )
    for left, width, accuracy, count in zip(
        lower[filled], widths[filled], bins.accuracy[filled], bins.counts[filled], strict=True
    ):
        ax.text(
            left + width / 2, min(accuracy, 0.93) + 0.02, str(count), ha="center", fontsize=7, color="0.25"
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    heading = title if ece is None else f"{title}  (ECE {ece:.3f})".strip()
    if heading:
        ax.set_title(heading, fontsize=10)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return ax


def save_reliability_png(
    bins: ReliabilityBins, path: str | Path, *, title: str = "", ece: float | None = None
) -> None:
    """Renders :func:`plot_reliability` to a PNG file (Agg canvas, no pyplot, no global state)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.5, 4.5), dpi=110, layout="constrained")
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


def save_reliability_pngs(out: Path, results: EvalResults) -> None:
    """``reliability_<task>_<method>.png`` in ``out`` for every task x confidence method of ``results``.

    A :data:`llmcal.evaluation.FigureRenderer`: pass it to :func:`llmcal.evaluation.evaluate` to draw the
    diagrams beside the results.
    """
    for task_name, task in results.tasks.items():
        for method, summary in task.methods.items():
            ece = summary.metric("ece")
            if summary.reliability is None:
                continue  # read back from results.json: the bins are in bins.csv, not redrawn
            save_reliability_png(
                summary.reliability,
                out / f"reliability_{task_name}_{method}.png",
                title=f"{task_name} / {method}",
                ece=None if ece is None else ece.value,
            )
