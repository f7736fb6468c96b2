"""Risk-coverage curves: how the error rate falls as a method abstains on its least confident answers.

One figure per task, one line per confidence method, drawn from the same answered predictions as the
method's reliability diagram. Beside the lines, faint references: random rejection (the overall error rate
at every coverage) and the oracle (every right answer ranked above every wrong one), which bound what a
ranking can do. Figures are drawn on their own Agg canvases, without touching pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from llmcal.metrics import RiskCoverageCurve, aurc, risk_coverage_curve
from llmcal.metrics.predictions import Predictions
from llmcal.reports.cells import number
from llmcal.reports.figures import figure_png

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CURVE_POINTS",
    "MethodRiskCoverage",
    "oracle_curve",
    "plot_risk_coverage",
    "risk_coverage_png",
]

CURVE_POINTS = 200
"""Points drawn per line: a curve of ``n`` items is thinned to about this many, so a page stays small."""

# One colour per method, in the results' order: the reliability diagrams' blue, orange, green and red
# first, then the rest of the same (seaborn "deep") palette. Past ten methods the colours come round again
# with another line style (never the references' dashed or dotted), so up to 30 lines are told apart.
_METHOD_COLOURS = (
    "#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3",
    "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD",
)  # fmt: skip
_METHOD_LINE_STYLES = ("-", "-.", (0, (5, 1, 1, 1, 1, 1)))
_REFERENCE_GREY = "0.5"


class MethodRiskCoverage(NamedTuple):
    """One method's line of a risk-coverage figure.

    Attributes:
        method: The confidence method, as the legend names it.
        curve: Its full (unthinned) risk-coverage curve.
        aurc: The area under it, shown in the legend.
        n_items: Items it gave a confidence: what its references are drawn over.
        n_right: Right answers among them.
    """

    method: str
    curve: RiskCoverageCurve
    aurc: float
    n_items: int
    n_right: int

    @classmethod
    def of(cls, method: str, predictions: Predictions) -> MethodRiskCoverage:
        """The line of ``method`` from its answered predictions."""
        confidences, correct = predictions.confidences, predictions.correct
        return cls(
            method,
            risk_coverage_curve(confidences, correct),
            aurc(confidences, correct),
            predictions.n_items,
            round(float(correct.sum())),
        )


def oracle_curve(n_items: int, n_right: int) -> RiskCoverageCurve:
    """The best ordering's curve: risk ``max(0, (k - W) / k)`` at coverage ``k/n``, ``W`` right answers.

    Examples:
        >>> curve = oracle_curve(4, 2)
        >>> curve.coverage.tolist(), curve.risk.tolist()
        ([0.25, 0.5, 0.75, 1.0], [0.0, 0.0, 0.3333333333333333, 0.5])
    """
    kept = np.arange(1, n_items + 1, dtype=np.float64)
    return RiskCoverageCurve(kept / n_items, np.maximum(0.0, (kept - n_right) / kept))


def plot_risk_coverage(lines: Sequence[MethodRiskCoverage], ax: Axes, *, title: str = "") -> Axes:
    """Draws each method's selective risk against coverage on ``ax``, over its references, and returns it.

    Each line is thinned to about :data:`CURVE_POINTS` points and labelled with its method and AURC.
    Random rejection (dashed) and the oracle (dotted) depend only on the items and right answers, so
    methods that share them share one pair, grey; where methods were judged on different items (a verbal
    confidence not every answer has) or got different answers right, each pair takes the colour of its
    first method and names its methods in the legend.
    """
    colours = {line.method: _METHOD_COLOURS[index % len(_METHOD_COLOURS)] for index, line in enumerate(lines)}
    for index, line in enumerate(lines):
        drawn = line.curve.thinned(CURVE_POINTS)
        style = _METHOD_LINE_STYLES[index // len(_METHOD_COLOURS) % len(_METHOD_LINE_STYLES)]
        ax.plot(drawn.coverage, drawn.risk, color=colours[line.method], linestyle=style, linewidth=1.6,
                zorder=3, label=f"{line.method} (AURC {number(line.aurc)})")  # fmt: skip
    references = _reference_groups(lines)
    for (n_items, n_right), methods in references.items():
        colour = _REFERENCE_GREY if len(references) == 1 else colours[methods[0]]
        whose = "" if len(references) == 1 else f", {', '.join(methods)}"
        error_rate = (n_items - n_right) / n_items
        ax.axhline(error_rate, color=colour, linestyle="--", linewidth=1, alpha=0.6,
                   label=f"random rejection{whose} (error rate {number(error_rate)})")  # fmt: skip
        oracle = oracle_curve(n_items, n_right).thinned(CURVE_POINTS)
        ax.plot(oracle.coverage, oracle.risk, color=colour, linestyle=":", linewidth=1.2, alpha=0.6,
                label=f"oracle{whose}")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("coverage (share of answers kept, most confident first)")
    ax.set_ylabel("selective risk (error rate of those kept)")
    if title:
        ax.set_title(title, fontsize=10)
    # Below the axes, as under the reliability diagrams, methods first; one column where the references
    # name their methods, whose labels two columns would push past the figure's edge.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1 if len(references) > 1 else 2,
              fontsize=7, frameon=False)  # fmt: skip
    return ax


def _reference_groups(lines: Sequence[MethodRiskCoverage]) -> dict[tuple[int, int], list[str]]:
    """The methods sharing each (items, right answers) pair, in the lines' order."""
    groups: dict[tuple[int, int], list[str]] = {}
    for line in lines:
        groups.setdefault((line.n_items, line.n_right), []).append(line.method)
    return groups


def risk_coverage_png(lines: Sequence[MethodRiskCoverage], title: str) -> bytes:
    """PNG of :func:`plot_risk_coverage` of ``lines``, sized like a reliability diagram of the report."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.4, 5.2), dpi=90, layout="constrained")
    plot_risk_coverage(lines, figure.add_subplot(), title=title)
    return figure_png(figure)
