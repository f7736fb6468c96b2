"""Proper scoring rules: Brier score and NLL of option probabilities, and the top-label Brier score.

The top-label Brier score needs only the confidence in the answer, all an open-ended answer has.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from llmcal.metrics.validation import as_confidences, as_correct, as_labels, as_option_mask, as_probabilities

__all__ = ["brier", "nll", "top_label_brier"]


def brier(probs: ArrayLike, labels: ArrayLike, option_mask: ArrayLike | None = None) -> float:
    r"""Multi-class Brier score: :math:`\frac{1}{n}\sum_i \sum_k (p_{ik} - \mathbb{1}[y_i = k])^2`.

    Ranges over [0, 2]. For K = 2 this is twice the binary Brier score :math:`(p_i - y_i)^2`, the
    convention of Brier (1950) and scikit-learn's multi-class ``brier_score_loss``.

    Args:
        probs: Per-option probabilities, shape ``(n, K)``, rows summing to 1.
        labels: Gold option index per item, shape ``(n,)``.
        option_mask: Which options exist, shape ``(n, K)``, for items with fewer than ``K`` options
            (``None``: all). Padded options have probability 0 and add nothing to the sum.

    Raises:
        InputError: If a row is not a distribution, a label is out of range, or the mask hides a gold
            option.

    Examples:
        >>> round(brier([[0.8, 0.2], [0.3, 0.7]], [0, 1]), 6)
        0.13
    """
    p, y = _checked(probs, labels, option_mask)
    gold = p[np.arange(len(p)), y]
    # sum_k (p_k - 1[k=y])^2 = sum_k p_k^2 - 2 p_y + 1, without materialising a one-hot matrix.
    return float(np.mean(np.einsum("ij,ij->i", p, p) - 2.0 * gold + 1.0))


def top_label_brier(confidences: ArrayLike, correct: ArrayLike) -> float:
    r"""Brier score of the confidence in the answer: :math:`\frac{1}{n}\sum_i (c_i - y_i)^2`, in [0, 1].

    The binary Brier score of "is the answer right?", scikit-learn's ``brier_score_loss(correct,
    confidences)``. It needs no option probabilities, so it applies to generated answers; on options it
    differs from :func:`brier`, which scores every option.

    Examples:
        >>> round(top_label_brier([0.9, 0.6], [1, 0]), 6)
        0.185
    """
    c = as_confidences(confidences)
    y = as_correct(correct, len(c))
    return float(np.mean((c - y) ** 2))


def nll(probs: ArrayLike, labels: ArrayLike, option_mask: ArrayLike | None = None) -> float:
    r"""Mean negative log-likelihood of the gold option: :math:`-\frac{1}{n}\sum_i \log p_{i,y_i}`.

    Probabilities are clipped to ``[eps, 1]`` with float64 machine epsilon, as scikit-learn's ``log_loss``
    does, so a zero on the gold option gives a large finite value instead of infinity.

    Args:
        probs: Per-option probabilities, shape ``(n, K)``, rows summing to 1.
        labels: Gold option index per item, shape ``(n,)``.
        option_mask: Which options exist, shape ``(n, K)`` (``None``: all); only validated, since the
            NLL reads the gold option alone.

    Raises:
        InputError: On the malformed inputs :func:`brier` refuses.

    Examples:
        >>> round(nll([[0.5, 0.5], [0.9, 0.1]], [0, 0]), 6)
        0.399254
    """
    p, y = _checked(probs, labels, option_mask)
    gold = np.clip(p[np.arange(len(p)), y], np.finfo(np.float64).eps, 1.0)
    return float(-np.mean(np.log(gold)))


def _checked(
    probs: ArrayLike, labels: ArrayLike, option_mask: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """The validated probabilities and labels; the mask is validated against them, then not needed."""
    p = as_probabilities(probs)
    y = as_labels(labels, p.shape[0], p.shape[1])
    as_option_mask(option_mask, p, y)
    return p, y
