"""Vector scaling (Guo et al., 2017): a per-option scale and bias on the logits."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from llmcal.calibrators.base import MultiClassCalibrator, equal_length_vectors, register_calibrator
from llmcal.errors import InputError

__all__ = ["VectorScaler"]


@register_calibrator
class VectorScaler(MultiClassCalibrator):
    """Maps logits ``z`` to ``w * z + b`` with per-option ``w`` and ``b`` fitted by NLL (L-BFGS).

    Unlike temperature scaling this can change the argmax: on multiple-choice tasks it also learns a
    preference per answer position (e.g. a model that over-picks "A"). Needs every option count to match
    between fit and transform.

    Args:
        l2: Ridge penalty pulling ``w`` towards 1 and ``b`` towards 0; a small value keeps the fit stable
            when an option is rarely the gold answer.

    Attributes:
        weights_: Per-option scales, shape ``(K,)``.
        biases_: Per-option biases, shape ``(K,)``.

    References:
        Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.
    """

    name = "vector"

    def __init__(self, *, l2: float = 1e-4) -> None:
        self.l2 = float(l2)

    def get_params(self) -> dict[str, Any]:  # noqa: D102
        return {"l2": self.l2}

    def _check_params(self) -> None:
        if self.l2 < 0:
            raise InputError(f"`l2` must be >= 0; got {self.l2}.")

    def _fit(self, scores: NDArray[np.float64], labels: NDArray[np.intp]) -> None:
        """Fits ``w`` and ``b`` by minimising the (lightly regularised) NLL of ``labels``."""
        n_items, n_options = scores.shape
        one_hot = np.zeros_like(scores)
        one_hot[np.arange(n_items), labels] = 1.0

        def loss_and_gradient(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            weights, biases = params[:n_options], params[n_options:]
            scaled = scores * weights + biases
            log_p = log_softmax(scaled, axis=1)
            loss = -np.mean(log_p[np.arange(n_items), labels])
            residual = (np.exp(log_p) - one_hot) / n_items  # d loss / d scaled
            gradient = np.concatenate([(residual * scores).sum(axis=0), residual.sum(axis=0)])
            penalty = params - np.concatenate([np.ones(n_options), np.zeros(n_options)])
            return float(loss + self.l2 * penalty @ penalty), gradient + 2.0 * self.l2 * penalty

        start = np.concatenate([np.ones(n_options), np.zeros(n_options)])
        result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B")
        self.weights_ = result.x[:n_options].copy()
        self.biases_ = result.x[n_options:].copy()

    def _transform(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        if scores.shape[1] != len(self.weights_):
            raise InputError(
                f"VectorScaler was fitted on {len(self.weights_)} options; got {scores.shape[1]}."
            )
        return np.asarray(softmax(scores * self.weights_ + self.biases_, axis=1))

    def _get_state(self) -> dict[str, Any]:
        return {"weights": self.weights_.tolist(), "biases": self.biases_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.weights_, self.biases_ = equal_length_vectors(state, "weights", "biases")
