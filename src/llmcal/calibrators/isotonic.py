"""Isotonic regression of correctness on confidence (Zadrozny & Elkan, 2002)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import isotonic_regression

from llmcal.calibrators.base import TopLabelCalibrator, equal_length_vectors, register_calibrator

__all__ = ["IsotonicCalibrator"]


@register_calibrator
class IsotonicCalibrator(TopLabelCalibrator):
    """The non-decreasing map from confidence to accuracy that best fits held-out data (least squares).

    Fitted with the pool-adjacent-violators algorithm on the distinct confidences (tied confidences are
    averaged first, so the fit does not depend on item order). New confidences are mapped by linear
    interpolation between fitted points and clamped outside the fitted range. Flexible, so it needs more
    held-out data than Platt or temperature scaling (roughly a thousand items or more).

    Attributes:
        thresholds_: Distinct fitted confidences, increasing.
        values_: Calibrated confidence at each threshold, non-decreasing.

    References:
        Zadrozny & Elkan, "Transforming Classifier Scores into Accurate Multiclass Probability
        Estimates", KDD 2002.

    Examples:
        >>> iso = IsotonicCalibrator().fit(confidences=[0.6, 0.7, 0.8, 0.9], correct=[0, 1, 0, 1])
        >>> iso.values_.tolist()
        [0.0, 0.5, 0.5, 1.0]
    """

    name = "isotonic"

    def get_params(self) -> dict[str, Any]:  # noqa: D102
        return {}

    def _fit(self, confidences: NDArray[np.float64], correct: NDArray[np.float64]) -> None:
        thresholds, group, counts = np.unique(confidences, return_inverse=True, return_counts=True)
        group_accuracy = np.bincount(group, weights=correct) / counts
        fitted = isotonic_regression(group_accuracy, weights=counts.astype(np.float64), increasing=True)
        self.thresholds_ = thresholds
        self.values_ = np.clip(fitted.x, 0.0, 1.0)

    def _transform(self, confidences: NDArray[np.float64]) -> NDArray[np.float64]:
        calibrated = np.interp(confidences, self.thresholds_, self.values_)
        return np.asarray(calibrated, dtype=np.float64)

    def _get_state(self) -> dict[str, Any]:
        return {"thresholds": self.thresholds_.tolist(), "values": self.values_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.thresholds_, self.values_ = equal_length_vectors(state, "thresholds", "values")
