"""CogCalib's known/unknown detector: an item is "known" if the model's NLL of its gold answer is <= t.

The NLL is the training loss itself, so classifying a training example costs nothing extra. The threshold t
is chosen on a held-out calibration split with ground-truth labels, to maximise TPR + TNR (Youden's J),
and re-chosen as training changes the model (every epoch by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from llmcal.errors import InputError

__all__ = ["ThresholdDetector", "youden_threshold"]


@dataclass(frozen=True)
class ThresholdDetector:
    """A fitted NLL threshold and how well it separated the calibration split.

    Attributes:
        threshold: Items with gold-answer NLL <= threshold count as known.
        tpr: Share of truly known calibration items classified known.
        tnr: Share of truly unknown calibration items classified unknown.
    """

    threshold: float
    tpr: float
    tnr: float

    def is_known(self, nll: ArrayLike) -> np.ndarray:
        """Known flags for NLL values."""
        return np.asarray(nll, dtype=np.float64) <= self.threshold


def youden_threshold(nll: ArrayLike, known: ArrayLike) -> ThresholdDetector:
    """The threshold on NLL maximising TPR + TNR on labelled items.

    Every midpoint between consecutive distinct NLL values is a candidate (plus one below and one above
    all values), so the optimum over all thresholds is found exactly. Ties go to the smaller threshold.

    Args:
        nll: Gold-answer NLL per calibration item.
        known: Ground-truth known flag per item.

    Raises:
        InputError: If the arrays differ in length, are empty, or hold only one class.

    Examples:
        >>> youden_threshold([0.1, 0.2, 2.0, 3.0], [1, 1, 0, 0]).threshold
        1.1
    """
    values = np.asarray(nll, dtype=np.float64)
    labels = np.asarray(known, dtype=bool)
    if values.ndim != 1 or values.shape != labels.shape or len(values) == 0:
        raise InputError(
            f"nll and known must be non-empty and aligned; got {values.shape} and {labels.shape}."
        )
    if not np.isfinite(values).all():
        raise InputError("nll contains NaN or infinite values.")
    n_known, n_unknown = int(labels.sum()), int((~labels).sum())
    if n_known == 0 or n_unknown == 0:
        raise InputError(
            f"The calibration split needs known and unknown items to fit a threshold; it has {n_known} known "
            f"and {n_unknown} unknown."
        )
    distinct = np.unique(values)
    candidates = np.concatenate(
        [[distinct[0] - 1.0], (distinct[:-1] + distinct[1:]) / 2.0, [distinct[-1] + 1.0]]
    )
    order = np.argsort(values, kind="stable")
    sorted_values, sorted_known = values[order], labels[order]
    # For each candidate t: items with nll <= t are predicted known.
    below = np.searchsorted(sorted_values, candidates, side="right")
    known_below = np.concatenate([[0], np.cumsum(sorted_known)])[below]
    tpr = known_below / n_known
    tnr = ((n_unknown) - (below - known_below)) / n_unknown
    best = int(np.argmax(tpr + tnr))
    return ThresholdDetector(float(candidates[best]), float(tpr[best]), float(tnr[best]))
