"""Temperature scaling (Guo et al., 2017): one scalar T divides every logit."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from llmcal.calibrators.base import MultiClassCalibrator, log_scores, register_calibrator
from llmcal.errors import CalibrationWarning, InputError

__all__ = ["DEFAULT_BOUNDS", "TemperatureScaler", "mean_nll"]


def mean_nll(log_scores: NDArray[np.float64], labels: NDArray[np.intp]) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(log_scores)``."""
    return float(-np.mean(log_softmax(log_scores, axis=1)[np.arange(len(labels)), labels]))


# The default search interval for T. Scores that barely separate the options are best made (near)
# uniform, so their fit runs to the upper end; presentations mark such a T rather than print it as a value.
DEFAULT_BOUNDS = (0.05, 20.0)


@register_calibrator
class TemperatureScaler(MultiClassCalibrator):
    """Divides logits by one temperature T > 0 fitted by NLL on held-out data.

    T > 1 softens overconfident predictions, T < 1 sharpens underconfident ones. Dividing by a positive
    scalar never changes the argmax, so accuracy is unchanged.

    Args:
        bounds: Search interval for T. The NLL is convex in 1/T, so the bounded search finds the global
            optimum inside it; hitting a bound (e.g. on perfectly separable data) warns.

    Attributes:
        temperature_: The fitted temperature.

    References:
        Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.

    Examples:
        >>> import numpy as np
        >>> logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])
        >>> scaler = TemperatureScaler().fit(logits=logits, labels=[0, 1, 1, 0])
        >>> scaler.temperature_ > 1.0   # one confident mistake: soften
        True
    """

    name = "temperature"

    def __init__(self, *, bounds: tuple[float, float] = DEFAULT_BOUNDS) -> None:
        self.bounds = (float(bounds[0]), float(bounds[1]))

    def get_params(self) -> dict[str, Any]:  # noqa: D102
        return {"bounds": list(self.bounds)}

    def _check_params(self) -> None:
        low, high = self.bounds
        if not 0.0 < low < high:
            raise InputError(f"`bounds` must satisfy 0 < low < high; got {self.bounds}.")

    def _fit(self, scores: NDArray[np.float64], labels: NDArray[np.intp]) -> None:
        low, high = self.bounds
        result = minimize_scalar(
            lambda log_t: mean_nll(scores / math.exp(log_t), labels),
            bounds=(math.log(low), math.log(high)),
            method="bounded",
            options={"xatol": 1e-7},
        )
        self.temperature_ = float(math.exp(result.x))
        # On (nearly) separable data the NLL flattens out towards a bound and the search may stop
        # anywhere on the plateau; report it whenever a bound is as good as the optimum found.
        best = float(result.fun)
        if min(mean_nll(scores / low, labels), mean_nll(scores / high, labels)) <= best + 1e-9 * max(
            best, 1e-9
        ):
            warnings.warn(
                f"Fitted temperature {self.temperature_:.4g} is at the search bound {self.bounds}; the "
                "held-out data may be (nearly) separable or too small. Widen `bounds` or add data.",
                CalibrationWarning,
                stacklevel=3,  # the caller of fit()
            )

    def transform_logits(
        self, *, logits: ArrayLike | None = None, probs: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """Scaled logits ``logits / T``, shape ``(n, K)``."""
        self._require_fitted()
        return log_scores(logits, probs) / self.temperature_

    def _transform(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(softmax(scores / self.temperature_, axis=1))

    def _get_state(self) -> dict[str, Any]:
        return {"temperature": self.temperature_}

    def _set_state(self, state: dict[str, Any]) -> None:
        temperature = float(state["temperature"])
        if not temperature > 0.0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature_ = temperature
