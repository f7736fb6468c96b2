"""The fraction of items answered right: reported beside every calibration metric, bootstrapped alike."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from llmcal.metrics.validation import as_confidences, as_correct

__all__ = ["accuracy"]


def accuracy(confidences: ArrayLike, correct: ArrayLike) -> float:
    """Fraction of items whose predicted option is right.

    Takes the top-label pair like the other top-label metrics, so one call shape serves every metric in
    :data:`~llmcal.metrics.METRICS`; the confidences are validated and otherwise ignored.

    Examples:
        >>> accuracy([0.9, 0.8, 0.6, 0.7], [1, 1, 0, 1])
        0.75
    """
    y = as_correct(correct, len(as_confidences(confidences)))
    return float(np.mean(y))
