"""Histogram binning (Zadrozny & Elkan, 2001): replace a confidence by its bin's held-out accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.calibrators.base import TopLabelCalibrator, register_calibrator
from llmcal.metrics.binning import assign_bins, bin_edges, binned_sums
from llmcal.metrics.validation import BinStrategy, check_n_bins, check_strategy

__all__ = ["HistogramBinning"]


@register_calibrator
class HistogramBinning(TopLabelCalibrator):
    """Maps each confidence to the accuracy of its bin on the held-out data.

    Bins follow the metric convention (right-closed, see :mod:`llmcal.metrics.binning`). A bin with no
    held-out items keeps its midpoint, i.e. it is left roughly as it was.

    Args:
        n_bins: Number of bins.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass on the held-out data).

    Attributes:
        edges_: Bin edges, shape ``(n_bins + 1,)``.
        values_: Calibrated confidence per bin, shape ``(n_bins,)``.

    References:
        Zadrozny & Elkan, "Obtaining Calibrated Probability Estimates from Decision Trees and Naive
        Bayesian Classifiers", ICML 2001.

    Examples:
        >>> hb = HistogramBinning(n_bins=2).fit(confidences=[0.2, 0.4, 0.8, 0.9], correct=[0, 1, 1, 1])
        >>> hb.transform(confidences=[0.3, 0.95]).tolist()
        [0.5, 1.0]
    """

    name = "histogram"

    def __init__(self, *, n_bins: int = 15, strategy: BinStrategy = "uniform") -> None:
        self.n_bins = n_bins
        self.strategy = strategy

    def get_params(self) -> dict[str, Any]:  # noqa: D102
        return {"n_bins": self.n_bins, "strategy": self.strategy}

    def _fit(self, confidences: NDArray[np.float64], correct: NDArray[np.float64]) -> None:
        edges = bin_edges(confidences, check_n_bins(self.n_bins), check_strategy(self.strategy))
        counts, _, correct_sums = binned_sums(confidences, correct, edges)
        midpoints = (edges[:-1] + edges[1:]) / 2.0
        with np.errstate(invalid="ignore", divide="ignore"):
            self.values_ = np.where(counts > 0, correct_sums / counts, midpoints)
        self.edges_ = edges

    def _transform(self, confidences: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.values_[assign_bins(confidences, self.edges_)]

    def _get_state(self) -> dict[str, Any]:
        return {"edges": self.edges_.tolist(), "values": self.values_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.edges_ = np.asarray(state["edges"], dtype=np.float64)
        self.values_ = np.asarray(state["values"], dtype=np.float64)
        if len(self.edges_) != len(self.values_) + 1:
            raise ValueError("edges must have exactly one more entry than values")
