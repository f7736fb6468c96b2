"""Confidence binning shared by the binned calibration errors, reliability diagrams and histogram binning.

Convention (``docs/papers.md``, "Bin edges"): with edges ``e_0 < e_1 < ... < e_B``, bin ``b`` (0-based)
holds confidences in ``(e_b, e_{b+1}]``; a confidence equal to ``e_0`` goes to the first bin. torchmetrics
and the RCFT code use left-closed bins instead; the two agree except for values that sit exactly on an
inner edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from llmcal.metrics.validation import (
    BinStrategy,
    as_confidences,
    as_correct,
    check_n_bins,
    check_strategy,
)

__all__ = [
    "ReliabilityBins",
    "assign_bins",
    "bin_edges",
    "binned_sums",
    "reliability_bins",
    "weighted_counts",
]


def bin_edges(confidences: NDArray[np.float64], n_bins: int, strategy: BinStrategy) -> NDArray[np.float64]:
    """Returns the ``n_bins + 1`` bin edges for validated confidences.

    ``uniform`` splits [0, 1] into equal widths. ``quantile`` puts the edges at the empirical quantiles,
    so bins hold (close to) equal numbers of items; tied confidences can leave some quantile bins empty.
    """
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.quantile(confidences, np.linspace(0.0, 1.0, n_bins + 1))
    # Quantiles of a sorted sample are non-decreasing in exact arithmetic; interpolation rounding can
    # break that by an ulp, which would make searchsorted ill-defined.
    return np.maximum.accumulate(edges)


def assign_bins(values: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.intp]:
    """Bin index of each value: right-closed bins, values at or below ``edges[0]`` in bin 0.

    Values above ``edges[-1]`` (possible when edges were fitted on other data) go to the last bin.
    """
    # searchsorted(side="left") returns i with edges[i-1] < v <= edges[i], i.e. bin i - 1.
    index = np.searchsorted(edges, values, side="left") - 1
    return np.clip(index, 0, len(edges) - 2)


def weighted_counts(
    index: NDArray[np.intp], weights: NDArray[np.float64], length: int
) -> NDArray[np.float64]:
    """Sum of ``weights`` per index value, as a float64 array of ``length`` (a typed ``np.bincount``)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=length), dtype=np.float64)


def binned_sums(
    confidences: NDArray[np.float64], correct: NDArray[np.float64], edges: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per-bin item count, sum of confidences and sum of correctness (the sufficient statistics)."""
    n_bins = len(edges) - 1
    index = assign_bins(confidences, edges)
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    confidence_sums = weighted_counts(index, confidences, n_bins)
    correct_sums = weighted_counts(index, correct, n_bins)
    return counts, confidence_sums, correct_sums


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin reliability data: what a reliability diagram draws.

    Attributes:
        edges: Bin edges, shape ``(n_bins + 1,)``.
        counts: Items per bin, shape ``(n_bins,)``.
        mean_confidence: Mean confidence per bin; NaN for empty bins.
        accuracy: Fraction correct per bin; NaN for empty bins.
    """

    edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    mean_confidence: NDArray[np.float64]
    accuracy: NDArray[np.float64]

    @property
    def n_items(self) -> int:
        """Total number of items binned."""
        return int(self.counts.sum())

    @property
    def gaps(self) -> NDArray[np.float64]:
        """``accuracy - mean_confidence`` per bin (negative means overconfident); NaN for empty bins."""
        return self.accuracy - self.mean_confidence

    def accuracy_interval(self, level: float = 0.95) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Wilson score interval of each bin's accuracy (its items treated as Bernoulli draws).

        Wilson's interval stays inside [0, 1] and is sensible for small bins and accuracies of 0 or 1,
        where the normal approximation collapses to a point. Each interval holds its bin's accuracy.
        Empty bins get NaN.

        Examples:
            >>> bins = ReliabilityBins(np.array([0.0, 1.0]), np.array([10]), np.array([0.8]), np.array([0.8]))
            >>> [round(float(x[0]), 4) for x in bins.accuracy_interval()]
            [0.4902, 0.9433]
        """
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + level / 2.0))
        n = self.counts.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = (self.accuracy + z * z / (2 * n)) / (1 + z * z / n)
            half = (
                z / (1 + z * z / n) * np.sqrt(self.accuracy * (1 - self.accuracy) / n + z * z / (4 * n * n))
            )
        # In exact arithmetic the interval holds the accuracy; at 0 or 1 rounding can put an end an ulp on
        # the wrong side of it, which a plot's error bars refuse as a negative length.
        return np.minimum(centre - half, self.accuracy), np.maximum(centre + half, self.accuracy)

    def to_rows(self) -> list[dict[str, Any]]:
        """One plain dict per bin (lower, upper, count, mean_confidence, accuracy), e.g. for CSV/JSON."""
        return [
            {
                "bin": index,
                "lower": float(self.edges[index]),
                "upper": float(self.edges[index + 1]),
                "count": int(self.counts[index]),
                "mean_confidence": None if self.counts[index] == 0 else float(self.mean_confidence[index]),
                "accuracy": None if self.counts[index] == 0 else float(self.accuracy[index]),
            }
            for index in range(len(self.counts))
        ]


def reliability_bins(
    confidences: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
) -> ReliabilityBins:
    """Bins items by confidence and returns each bin's count, mean confidence and accuracy.

    Args:
        confidences: Top-label confidence of each item, shape ``(n,)``, in [0, 1].
        correct: Whether each item's prediction was right, shape ``(n,)``, 0/1 or bool.
        n_bins: Number of bins.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).

    Returns:
        The per-bin data; empty bins have count 0 and NaN mean confidence and accuracy.

    Raises:
        InputError: On malformed inputs (see :mod:`llmcal.metrics.validation`).

    Examples:
        >>> bins = reliability_bins([0.1, 0.9, 0.95], [0, 1, 1], n_bins=2)
        >>> bins.counts.tolist(), bins.accuracy.tolist()
        ([1, 2], [0.0, 1.0])
    """
    c = as_confidences(confidences)
    y = as_correct(correct, len(c))
    edges = bin_edges(c, check_n_bins(n_bins), check_strategy(strategy))
    counts, confidence_sums, correct_sums = binned_sums(c, y, edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = confidence_sums / counts
        accuracy = correct_sums / counts
    return ReliabilityBins(edges, counts.astype(np.int64), mean_confidence, accuracy)
