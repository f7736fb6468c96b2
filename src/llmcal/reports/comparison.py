"""A comparison drawn for people: markdown tables of every change and a forest plot of the headline ones."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llmcal.atomic import write_text_atomic
from llmcal.errors import InputError
from llmcal.metrics.comparison import MetricChange
from llmcal.reports.cells import change_cells, change_columns, headline_metrics, uncompared_line
from llmcal.reports.figures import save_figure_atomic
from llmcal.runs.comparison import COMPARISON_PLOT_NAME, ComparisonResults

__all__ = ["comparison_markdown", "render_comparison", "save_comparison_png"]


def comparison_markdown(results: ComparisonResults) -> str:
    """A markdown report: one table per model pair, rows task x method x metric, every metric.

    Below a pair's table, each task x method it could not compare (no item has a confidence in both runs),
    with why.
    """
    settings, changes = results.settings, results.changes
    level = round(100 * settings.level)
    lines = [
        "# Calibration change: base vs aligned",
        "",
        f"delta = aligned - base, with a {level}% paired bootstrap interval ({settings.n_resamples} "
        f"resamples of the items, seed {settings.seed}); CR = delta / base. Binned metrics use "
        f"{settings.n_bins} {settings.strategy} bins.",
    ]
    ranked = results.ranked
    for pair in dict.fromkeys(
        [*(item.pair for item in changes), *(item.pair for item in results.uncompared)]
    ):
        lines += ["", f"## {pair}" if pair else "## comparison", ""]
        rows = [item for item in changes if item.pair == pair]
        if rows:
            header = change_columns(settings.level, ranked=ranked)
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(change_cells(item, ranked=ranked)) + " |" for item in rows]
        uncompared = [uncompared_line(item) for item in results.uncompared if item.pair == pair]
        if uncompared:
            lines += ["", *(f"- {line}" for line in uncompared)]
    return "\n".join(lines) + "\n"


def save_comparison_png(changes: Sequence[MetricChange], path: str | Path, *, metrics: Sequence[str]) -> None:
    """A forest plot: one panel per metric, each task x method a row, each pair's delta with its interval.

    Drawn on its own Agg figure (no pyplot, no global state) and written atomically.
    """
    from matplotlib.figure import Figure

    shown = [metric for metric in metrics if any(item.metric == metric for item in changes)]
    if not shown:
        raise InputError(f"No comparison rows for the metrics {', '.join(metrics)} to plot.")
    rows = list(dict.fromkeys((item.task, item.method) for item in changes))
    pairs = list(dict.fromkeys(item.pair for item in changes))
    figure = Figure(figsize=(3.6 * len(shown), 1.0 + 0.45 * len(rows) * max(1, len(pairs) / 2)), dpi=110,
                    layout="constrained")  # fmt: skip
    axes = figure.subplots(1, len(shown), sharey=True, squeeze=False)[0]
    offsets = np.linspace(-0.25, 0.25, len(pairs)) if len(pairs) > 1 else np.zeros(1)
    colors = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
    for ax, metric in zip(axes, shown, strict=True):
        ax.axvline(0.0, color="0.5", linewidth=1, linestyle="--")
        for pair_index, pair in enumerate(pairs):
            found = {(i.task, i.method): i for i in changes if i.metric == metric and i.pair == pair}
            ys = [row_index + offsets[pair_index] for row_index, row in enumerate(rows) if row in found]
            selected = [found[row] for row in rows if row in found]
            deltas = np.array([item.delta for item in selected])
            errors = np.array(
                [
                    [item.delta - item.delta_low for item in selected],
                    [item.delta_high - item.delta for item in selected],
                ]
            )
            color = colors[pair_index % len(colors)]
            ax.errorbar(deltas, ys, xerr=np.nan_to_num(errors), fmt="o", color=color, markersize=4, capsize=2,
                        label=pair or None)  # fmt: skip
        ax.set_title(f"Δ {metric} (aligned − base)", fontsize=10)
        ax.grid(axis="x", color="0.9")
    axes[0].set_yticks(range(len(rows)), [f"{task} / {method}" for task, method in rows], fontsize=8)
    axes[0].invert_yaxis()
    if len(pairs) > 1:  # one pair: the title says it all, and a legend would hide points
        axes[-1].legend(fontsize=7, frameon=False, loc="best")
    save_figure_atomic(figure, path)


def render_comparison(out: Path, results: ComparisonResults) -> None:
    """Writes ``comparison.md`` and ``comparison.png`` beside ``comparison.json`` (each atomically).

    With no change at all (every method left uncompared) there is no plot, and ``comparison.png`` is not
    written.

    A :data:`llmcal.comparison.ComparisonRenderer`.
    """
    write_text_atomic(out / "comparison.md", comparison_markdown(results))
    if not results.changes:  # no method had an item with a confidence in both runs: nothing to plot
        (out / COMPARISON_PLOT_NAME).unlink(missing_ok=True)  # an earlier comparison's, no longer true
        return
    computed = list(dict.fromkeys(change.metric for change in results.changes))
    save_comparison_png(results.changes, out / COMPARISON_PLOT_NAME, metrics=headline_metrics(computed))
