"""Binned calibration errors: top-label (ECE, MCE, RMS-CE) and class-wise (SCE, ACE).

Top-label metrics take each item's confidence in its predicted option and whether that prediction was
right. Class-wise metrics take the whole (n, K) probability matrix and the gold labels.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from llmcal.metrics.binning import assign_bins, bin_edges, binned_sums, weighted_counts
from llmcal.metrics.validation import (
    BinStrategy,
    as_confidences,
    as_correct,
    as_labels,
    as_option_mask,
    as_probabilities,
    check_n_bins,
    check_strategy,
)

__all__ = ["ace", "ece", "mce", "rms_ce", "sce", "top_label_confidence"]


def top_label_confidence(
    probs: ArrayLike, labels: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Turns per-option probabilities into top-label (confidence, correct) pairs.

    The prediction is the argmax (the first option on ties); its probability is the confidence.

    Args:
        probs: Per-option probabilities, shape ``(n, K)``, rows summing to 1.
        labels: Gold option index per item, shape ``(n,)``.

    Returns:
        ``(confidences, correct)``, both shape ``(n,)``; ``correct`` is 0.0/1.0.

    Examples:
        >>> conf, correct = top_label_confidence([[0.7, 0.3], [0.4, 0.6]], [0, 0])
        >>> conf.tolist(), correct.tolist()
        ([0.7, 0.6], [1.0, 0.0])
    """
    p = as_probabilities(probs)
    y = as_labels(labels, p.shape[0], p.shape[1])
    predicted = p.argmax(axis=1)
    return p[np.arange(len(p)), predicted], (predicted == y).astype(np.float64)


def _top_label_bins(
    confidences: ArrayLike, correct: ArrayLike, n_bins: int, strategy: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Validated per-bin counts and signed gaps ``sum(correct) - sum(confidence)``."""
    c = as_confidences(confidences)
    y = as_correct(correct, len(c))
    edges = bin_edges(c, check_n_bins(n_bins), check_strategy(strategy))
    counts, confidence_sums, correct_sums = binned_sums(c, y, edges)
    return counts, correct_sums - confidence_sums, len(c)


def ece(
    confidences: ArrayLike, correct: ArrayLike, *, n_bins: int = 15, strategy: BinStrategy = "uniform"
) -> float:
    r"""Expected calibration error of top-label confidences.

    .. math:: \mathrm{ECE} = \sum_b \frac{|B_b|}{n}\,\bigl|\mathrm{acc}(B_b) - \mathrm{conf}(B_b)\bigr|

    Args:
        confidences: Confidence in the predicted option, shape ``(n,)``, in [0, 1].
        correct: 1 where the prediction was right, shape ``(n,)``.
        n_bins: Number of bins (default 15, as in Guo et al. 2017).
        strategy: ``"uniform"`` (equal-width bins) or ``"quantile"`` (equal-mass bins).

    Returns:
        The ECE, in [0, 1].

    Raises:
        InputError: On malformed inputs.

    References:
        Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.

    Examples:
        >>> round(ece([0.95, 0.85, 0.65, 0.55], [1, 0, 1, 1], n_bins=10), 6)
        0.425
    """
    _, gap_sums, n = _top_label_bins(confidences, correct, n_bins, strategy)
    return float(np.abs(gap_sums).sum() / n)


def mce(
    confidences: ArrayLike, correct: ArrayLike, *, n_bins: int = 15, strategy: BinStrategy = "uniform"
) -> float:
    """Maximum calibration error: the largest |accuracy - confidence| over non-empty bins.

    Arguments as in :func:`ece`.

    Examples:
        >>> round(mce([0.95, 0.85, 0.65, 0.55], [1, 0, 1, 1], n_bins=10), 6)
        0.85
    """
    counts, gap_sums, _ = _top_label_bins(confidences, correct, n_bins, strategy)
    filled = counts > 0
    return float(np.max(np.abs(gap_sums[filled]) / counts[filled]))


def rms_ce(
    confidences: ArrayLike, correct: ArrayLike, *, n_bins: int = 15, strategy: BinStrategy = "uniform"
) -> float:
    r"""Root-mean-square (L2) calibration error: :math:`\sqrt{\sum_b \frac{|B_b|}{n}(\mathrm{acc}_b - \mathrm{conf}_b)^2}`.

    Takes the arguments of :func:`ece`; squaring weighs a large gap in one bin more than ECE does.

    Examples:
        >>> round(rms_ce([0.95, 0.85, 0.65, 0.55], [1, 0, 1, 1], n_bins=10), 6)
        0.512348
    """  # noqa: E501
    counts, gap_sums, n = _top_label_bins(confidences, correct, n_bins, strategy)
    filled = counts > 0
    return float(np.sqrt(np.sum(gap_sums[filled] ** 2 / counts[filled]) / n))


def _classwise_error(
    probs: NDArray[np.float64],
    labels: NDArray[np.intp],
    mask: NDArray[np.bool_],
    edges_per_class: list[NDArray[np.float64]],
) -> float:
    """sum_k sum_b |sum_{i in bin(b,k)} (1[y_i = k] - p_ik)| / sum_k n_k, the kernel of SCE and ACE.

    Class ``k`` is binned over the ``n_k`` items that have an option ``k``.
    """
    total = 0.0
    for option, edges in enumerate(edges_per_class):
        present = mask[:, option]
        column = probs[present, option]
        index = assign_bins(column, edges)
        residual = (labels[present] == option) - column
        total += float(np.abs(weighted_counts(index, residual, len(edges) - 1)).sum())
    return total / float(mask.sum())


def sce(
    probs: ArrayLike, labels: ArrayLike, option_mask: ArrayLike | None = None, *, n_bins: int = 15
) -> float:
    r"""Static calibration error (class-wise ECE with equal-width bins).

    .. math:: \mathrm{SCE} = \sum_{k=1}^{K}\frac{n_k}{\sum_j n_j}\sum_{b=1}^{B}\frac{n_{bk}}{n_k}\,
              \bigl|\mathrm{acc}(b,k) - \mathrm{conf}(b,k)\bigr|

    Bin ``(b, k)`` holds the items whose probability for option ``k`` falls in bin ``b``; ``acc(b, k)`` is
    the fraction of them whose label is ``k``, ``conf(b, k)`` their mean probability for ``k``. This is
    the cw-ECE of Xiao et al. (RCFT) as well.

    Class ``k`` is measured over the ``n_k`` items that have an option ``k`` (``option_mask``; ARC items
    have 3 to 5 options), and classes are weighted by ``n_k``: the error is an average over the existing
    (item, option) pairs. With every item having all ``K`` options, ``n_k = n``, the weights are ``1/K``
    and this is Nixon et al.'s formula. A padded option is never counted as a calibrated "probability 0,
    label never k" prediction (which would shrink SCE by the share of padding: one 5-option item among
    4-option ones would scale it by 4/5), and a class that few items have (a fifth option on one item)
    weighs by its share instead of a full ``1/K``.

    Args:
        probs: Per-option probabilities, shape ``(n, K)``, rows summing to 1, zero at padded options.
        labels: Gold option index per item, shape ``(n,)``.
        option_mask: Which options exist, shape ``(n, K)`` boolean, or ``None`` when all do.
        n_bins: Number of equal-width bins per class.

    Returns:
        The SCE, in [0, 1].

    Raises:
        InputError: On malformed inputs.

    References:
        Nixon et al., "Measuring Calibration in Deep Learning", CVPR Workshops 2019.

    Examples:
        >>> round(sce([[0.8, 0.2], [0.3, 0.7]], [0, 0], n_bins=10), 6)
        0.45
        >>> round(sce([[0.8, 0.2, 0.0], [0.3, 0.3, 0.4]], [0, 2], [[1, 1, 0], [1, 1, 1]], n_bins=10), 6)
        0.32
    """
    p = as_probabilities(probs)
    y = as_labels(labels, p.shape[0], p.shape[1])
    mask = as_option_mask(option_mask, p, y)
    edges = np.linspace(0.0, 1.0, check_n_bins(n_bins) + 1)
    return _classwise_error(p, y, mask, [edges] * p.shape[1])


def ace(
    probs: ArrayLike, labels: ArrayLike, option_mask: ArrayLike | None = None, *, n_bins: int = 15
) -> float:
    """Adaptive calibration error: :func:`sce` with equal-mass bins chosen per class.

    Each class gets its own bin edges at the quantiles of that class's probabilities (over the items that
    have the class). Bins are weighted by their item counts (with exactly equal masses this equals Nixon
    et al.'s unweighted average).

    Arguments as in :func:`sce`.

    References:
        Nixon et al., "Measuring Calibration in Deep Learning", CVPR Workshops 2019.
    """
    p = as_probabilities(probs)
    y = as_labels(labels, p.shape[0], p.shape[1])
    mask = as_option_mask(option_mask, p, y)
    n_bins = check_n_bins(n_bins)
    edges = [
        bin_edges(p[mask[:, option], option], n_bins, "quantile") if mask[:, option].any() else np.zeros(2)
        for option in range(p.shape[1])
    ]
    return _classwise_error(p, y, mask, edges)
