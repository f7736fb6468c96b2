"""The demo's story in figures, before any table.

1. The knowledge world's variants: ECE and accuracy of each on the people whose facts the model read
   (known) and on the rest (unknown), side by side.
2. Pretrained vs aligned (DPO): accuracy and ECE of each confidence method before and after, the
   change's paired bootstrap interval as a whisker on the aligned bar.
3. The real model on real facts: accuracy and mean confidence per popularity stratum, rarest facts first;
   the gap between confidence and accuracy is the miscalibration, before and after temperature scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from llmcal.metrics.comparison import MetricChange
from llmcal.reports.cells import number, temperature_cell
from llmcal.reports.figures import figure_png
from llmcal.runs.demo import DemoResults, DemoRow, RealModelResults, known_unknown_values

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["StoryFigure", "demo_story_figures"]

# The knowledge world's other methods; the headline keeps `sum` (fine-tuned variants are scored with it).
_OTHER_METHODS = (" mean", " min")
# The real model's method shown by popularity: the one lm-evaluation-harness's `acc` uses.
_REAL_METHOD = "sum"


class StoryFigure(NamedTuple):
    """One figure of the demo's story: its PNG, a short alt text and the caption under it."""

    png: bytes
    alt: str
    caption: str


def demo_story_figures(demo: DemoResults) -> list[StoryFigure]:
    """The demo's figures in story order (see the module docstring): one per part of the demo that ran."""
    figures = [_variants_figure(demo.rows)]
    if demo.comparison:
        figures.append(_alignment_figure(demo.comparison))
    if demo.real_model is not None:
        figures.append(_real_model_figure(demo.real_model))
    return figures


def _variants_figure(rows: Sequence[DemoRow]) -> StoryFigure:
    from matplotlib.figure import Figure

    kept = [row for row in rows if not row.variant.endswith(_OTHER_METHODS)]
    figure = Figure(figsize=(12.0, 5.4), layout="constrained")
    ece_ax, accuracy_ax = figure.subplots(1, 2)
    _known_unknown_panel(ece_ax, kept, "people", legend=False)
    ece_ax.set_xlabel("ECE on the test people (lower is better)")
    ece_ax.set_title("ECE per variant")
    _known_unknown_panel(accuracy_ax, kept, "people", metric="accuracy", legend=False)
    accuracy_ax.set_xlabel("accuracy on the test people")
    accuracy_ax.set_title("accuracy per variant")
    figure.legend(*ece_ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
    figure.suptitle("Knowledge world, tiny GPT-2: people it read about (known) and the others (unknown)")
    return StoryFigure(
        figure_png(figure),
        "ECE and accuracy per variant, known vs unknown people",
        "The knowledge world's tiny GPT-2 after each fine-tuning variant (method sum): ECE and accuracy on "
        "the test people whose facts it read in pretraining (known) and on the others (unknown).",
    )


def _alignment_figure(changes: Sequence[MetricChange]) -> StoryFigure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12.0, 4.4), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, metric in zip(axes, ("accuracy", "ece"), strict=True):
        _base_vs_aligned_panel(ax, changes, metric, ("pretrained", "aligned (DPO)"), interval=True)
        ax.set_xlabel("confidence method")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric}: pretrained vs aligned")
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    return StoryFigure(
        figure_png(figure),
        "pretrained vs aligned (DPO), accuracy and ECE per method",
        "The knowledge world's model before and after DPO alignment, every confidence method on the test "
        "people: accuracy and ECE; the whisker is the paired bootstrap interval of the change.",
    )


def _base_vs_aligned_panel(
    ax: Axes, changes: Sequence[MetricChange], metric: str, labels: tuple[str, str], *, interval: bool
) -> None:
    """``metric`` of each method before (grey) and after (red) alignment.

    With ``interval``, the change's paired bootstrap interval is a whisker on the after bar.
    """
    by_method = {change.method: change for change in changes if change.metric == metric}
    methods = list(by_method)
    positions = np.arange(len(methods), dtype=np.float64)
    base = np.array([by_method[m].base for m in methods])
    aligned = np.array([by_method[m].aligned for m in methods])
    ax.bar(positions - 0.2, base, width=0.4, color="#8C8C8C", label=labels[0])
    ax.bar(positions + 0.2, aligned, width=0.4, color="#C44E52", label=labels[1])
    if interval:
        low = base + np.array([by_method[m].delta_low for m in methods])
        high = base + np.array([by_method[m].delta_high for m in methods])
        ax.errorbar(positions + 0.2, aligned, yerr=[aligned - low, high - aligned], fmt="none", ecolor="0.15",
                    elinewidth=0.9, capsize=3, label="95% interval of the change")  # fmt: skip
    ax.set_xticks(positions, methods)
    ax.grid(axis="y", alpha=0.3)


def _real_model_figure(real: RealModelResults) -> StoryFigure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 5.2), layout="constrained")
    _popularity_panel(figure.add_subplot(), real)
    return StoryFigure(
        figure_png(figure),
        f"{real.model}: accuracy and confidence by {real.by}",
        f"{real.model} on real fact questions: accuracy and mean confidence per {real.by} stratum, rarest "
        "first; the gap between them is the miscalibration, before and after temperature scaling.",
    )


def _known_unknown_panel(
    ax: Axes, rows: Sequence[DemoRow], noun: str, *, metric: str = "ece", legend: bool = True
) -> None:
    """``metric`` of each variant on its known and unknown test items, side by side, first variant on top.

    ``legend=False`` leaves the legend to the figure (panels side by side share one).
    """
    ece = known_unknown_values(rows, metric)
    variants = [variant for variant, groups in ece.items() if len(groups) == 2]
    positions = np.arange(len(variants), dtype=np.float64)
    height = 0.38
    for offset, group, colour in ((-height / 2, "known", "#4C72B0"), (height / 2, "unknown", "#DD8452")):
        values = [ece[variant][group] for variant in variants]
        ax.barh(positions + offset, values, height=height, color=colour, label=f"{group} {noun}")
    ax.set_yticks(positions, [variant.removesuffix(" sum") for variant in variants])
    ax.invert_yaxis()
    widest = max((value for groups in ece.values() for value in groups.values()), default=0.0)
    if metric == "accuracy":
        ax.set_xlim(0, 1)
    elif legend:
        ax.set_xlim(0, 1.4 * widest if widest > 0 else 1.0)  # room at the right for the legend
    if legend:
        ax.legend(loc="best", frameon=True, framealpha=0.9)
    ax.grid(axis="x", alpha=0.3)


def _popularity_panel(ax: Axes, real: RealModelResults) -> None:
    raw = real.rows_by_stratum(_REAL_METHOD)
    scaled = real.rows_by_stratum(f"{_REAL_METHOD} + temperature")
    positions = np.arange(len(raw), dtype=np.float64)
    ax.plot(positions, [r.calibration.accuracy for r in raw], "o-", color="#222222", label="accuracy")
    ax.plot(
        positions, [r.calibration.mean_confidence for r in raw], "s--", color="#C44E52",
        label="mean confidence",
    )  # fmt: skip
    ax.plot(
        positions, [r.calibration.mean_confidence for r in scaled], "^:", color="#55A868",
        label=f"mean confidence, temperature {temperature_cell(real.temperatures[_REAL_METHOD])}",
    )  # fmt: skip
    for position, row, after in zip(positions, raw, scaled, strict=True):
        ax.annotate(
            f"ECE {number(row.calibration.ece)}\n→ {number(after.calibration.ece)}",
            (position, 0.02), ha="center", va="bottom", fontsize=8, color="0.3",
        )  # fmt: skip
    ax.set_xticks(positions, [f"{label}\n(n={row.calibration.n_items})" for label, row in zip(
        real.strata, raw, strict=True)], fontsize=8)  # fmt: skip
    ax.set_xlim(-0.5, len(raw) - 0.5)  # room for the ECE notes under the outer strata
    ax.set_xlabel(f"{real.by} of the place asked about (rarest first)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy / confidence")
    ax.set_title(f"{real.model} on {real.n_test} real fact questions ({_REAL_METHOD})")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
