"""Platt scaling of the top-label confidence: a logistic regression on its logit."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import expit, logit

from llmcal.calibrators.base import TopLabelCalibrator, register_calibrator

__all__ = ["PlattScaler"]

# Confidences are clipped away from 0 and 1 before taking the logit, so a saturated confidence maps to
# a large finite score instead of infinity.
_CLIP = 1e-12


@register_calibrator
class PlattScaler(TopLabelCalibrator):
    """Maps a confidence ``c`` to ``sigmoid(a * logit(c) + b)``, with ``a``, ``b`` fitted by log-loss.

    Top-label: it recalibrates the confidence in the predicted answer and leaves the prediction alone.
    Targets are Platt's smoothed labels ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)``, which keep ``a`` and
    ``b`` finite when the held-out set is small or all right (or all wrong).

    Attributes:
        slope_: ``a``; below 1 means the model was overconfident.
        intercept_: ``b``.

    References:
        Platt, "Probabilistic Outputs for Support Vector Machines", 1999.

    Examples:
        >>> scaler = PlattScaler().fit(confidences=[0.9, 0.95, 0.8, 0.99], correct=[1, 0, 1, 0])
        >>> bool(scaler.transform(confidences=[0.99])[0] < 0.99)
        True
    """

    name = "platt"

    def get_params(self) -> dict[str, Any]:  # noqa: D102
        return {}

    def _fit(self, confidences: NDArray[np.float64], correct: NDArray[np.float64]) -> None:
        scores = logit(np.clip(confidences, _CLIP, 1.0 - _CLIP))
        n_right = correct.sum()
        n_wrong = len(correct) - n_right
        targets = np.where(correct == 1.0, (n_right + 1.0) / (n_right + 2.0), 1.0 / (n_wrong + 2.0))

        def loss_and_gradient(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            z = params[0] * scores + params[1]
            # log(1 + e^z) - t z, written with logaddexp to stay finite for large |z|
            loss = np.mean(np.logaddexp(0.0, z) - targets * z)
            residual = (expit(z) - targets) / len(z)
            return float(loss), np.array([residual @ scores, residual.sum()])

        result = minimize(loss_and_gradient, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
        self.slope_, self.intercept_ = float(result.x[0]), float(result.x[1])

    def _transform(self, confidences: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(
            expit(self.slope_ * logit(np.clip(confidences, _CLIP, 1.0 - _CLIP)) + self.intercept_)
        )

    def _get_state(self) -> dict[str, Any]:
        return {"slope": self.slope_, "intercept": self.intercept_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.slope_, self.intercept_ = float(state["slope"]), float(state["intercept"])
