"""The data of the study's reliability diagrams: each model variant's bins on the test items, first seed.

Diagrams show one seed's model (the first), so each bin's interval is over the items it holds; the tables
and verdicts average over every seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmcal.metrics.binning import reliability_bins
from llmcal.metrics.calibration_error import ece
from llmcal.study.evidence import Arm

__all__ = ["reliability_rows"]


def _row(figure: str, arm: Arm, n_bins: int) -> dict[str, Any]:
    (predictions, *_) = arm.predictions()
    bins = reliability_bins(predictions.confidences, predictions.correct, n_bins=n_bins)
    return {
        "figure": figure,
        "label": arm.label,
        "edges": bins.edges.tolist(),
        "counts": bins.counts.tolist(),
        "mean_confidence": bins.mean_confidence.tolist(),
        "accuracy": bins.accuracy.tolist(),
        "ece": ece(predictions.confidences, predictions.correct, n_bins=n_bins),
        "cell": arm.cell_names[0],
    }


def reliability_rows(arms: Sequence[Arm], figure: str, n_bins: int) -> list[dict[str, Any]]:
    """The reliability bins of each arm's first seed on the test items, for the figure named ``figure``."""
    return [_row(figure, arm, n_bins) for arm in arms]
