"""What every post-hoc calibrator shares: fitted-state bookkeeping, persistence and the registry.

Calibrators follow the scikit-learn contract: ``__init__`` stores hyperparameters only, ``fit`` returns
``self`` and sets attributes ending in ``_``, and using an unfitted calibrator raises
:class:`~llmcal.errors.NotFittedError`. The input kind is explicit in every signature (``logits=`` or
``probs=`` for multi-class calibrators, ``confidences=`` for top-label ones); nothing is sniffed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from llmcal.errors import InputError, NotFittedError
from llmcal.metrics.validation import as_confidences, as_correct, as_labels, as_logits, as_probabilities
from llmcal.registry import Registry

__all__ = ["CALIBRATORS", "Calibrator", "calibrator_from_dict", "log_scores", "register_calibrator"]

CALIBRATORS: Registry[type[Calibrator]] = Registry("calibrator")
"""Every calibrator class by its ``name``; a class joins it only through :func:`register_calibrator`."""

_FORMAT_VERSION = 1


class Calibrator(ABC):
    """Base of all calibrators: persistence and the fitted check. Subclasses hold the maths.

    A subclass is found by name (``calibrator_from_dict``, the CLI) only once it is decorated with
    :func:`register_calibrator`.
    """

    name: ClassVar[str]

    @abstractmethod
    def get_params(self) -> dict[str, Any]:
        """Hyperparameters, as accepted by ``__init__`` (JSON-serialisable)."""

    @abstractmethod
    def _get_state(self) -> dict[str, Any]:
        """Fitted attributes as JSON-serialisable values."""

    @abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None:
        """Restores fitted attributes written by :meth:`_get_state`."""

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has been called (or state was loaded)."""
        return getattr(self, "_fitted", False)

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(...) on held-out data first."
            )

    def _mark_fitted(self) -> None:
        self._fitted = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description: calibrator name, hyperparameters and fitted state.

        Raises:
            NotFittedError: If the calibrator has not been fitted.
        """
        self._require_fitted()
        return {
            "format": _FORMAT_VERSION,
            "calibrator": self.name,
            "params": self.get_params(),
            "state": self._get_state(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuilds a fitted calibrator from :meth:`to_dict` output.

        Raises:
            InputError: If ``data`` describes another calibrator or is malformed.
        """
        if not isinstance(data, dict) or data.get("calibrator") != cls.name:
            found = data.get("calibrator") if isinstance(data, dict) else type(data).__name__
            raise InputError(f"Expected a saved {cls.name!r} calibrator; got {found!r}.")
        if data.get("format") != _FORMAT_VERSION:
            raise InputError(
                f"Saved calibrator has format {data.get('format')!r}; "
                f"this llmcal reads format {_FORMAT_VERSION}."
            )
        try:
            calibrator = cls(**data["params"])
            calibrator._set_state(data["state"])
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"Saved {cls.name!r} calibrator is malformed: {error}") from None
        calibrator._mark_fitted()
        return calibrator

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({params})"


CalibratorClass = TypeVar("CalibratorClass", bound=type[Calibrator])


class TopLabelCalibrator(Calibrator):
    """A calibrator of top-label confidences, fitted on held-out confidences and whether they were right.

    Validates the inputs once for every such calibrator; a subclass maps checked arrays in
    :meth:`_fit` and :meth:`_transform`.
    """

    def fit(self, *, confidences: ArrayLike, correct: ArrayLike) -> Self:
        """Fits on held-out confidences and correctness.

        Args:
            confidences: Confidence in the predicted option, shape ``(n,)``, in [0, 1].
            correct: 1 where the prediction was right, shape ``(n,)``.

        Returns:
            self.

        Raises:
            InputError: If the confidences leave [0, 1] or the two arrays are not aligned 0/1 outcomes.
        """
        checked = as_confidences(confidences)
        self._fit(checked, as_correct(correct, len(checked)))
        self._mark_fitted()
        return self

    def transform(self, *, confidences: ArrayLike) -> NDArray[np.float64]:
        """Calibrated confidences, shape ``(n,)``.

        Raises:
            NotFittedError: Before :meth:`fit`.
        """
        self._require_fitted()
        return self._transform(as_confidences(confidences))

    @abstractmethod
    def _fit(self, confidences: NDArray[np.float64], correct: NDArray[np.float64]) -> None:
        """Learns the map from checked confidences and 0/1 outcomes."""

    @abstractmethod
    def _transform(self, confidences: NDArray[np.float64]) -> NDArray[np.float64]:
        """Applies the learnt map to checked confidences."""


class MultiClassCalibrator(Calibrator):
    """A calibrator of per-option scores (logits, log-likelihoods or probabilities) into probabilities.

    Validates the inputs once for every such calibrator; a subclass checks its own parameters in
    :meth:`_check_params` and maps checked scores in :meth:`_fit` and :meth:`_transform`.
    """

    def fit(
        self, *, logits: ArrayLike | None = None, probs: ArrayLike | None = None, labels: ArrayLike
    ) -> Self:
        """Fits on held-out per-option scores and gold labels.

        Args:
            logits: Unnormalised scores, shape ``(n, K)`` (logits or per-option log-likelihoods).
            probs: Per-option probabilities, shape ``(n, K)``; give this or ``logits``, not both.
            labels: Gold option index per item, shape ``(n,)``.

        Returns:
            self.

        Raises:
            InputError: On malformed inputs or invalid parameters.
        """
        self._check_params()
        scores = log_scores(logits, probs)
        self._fit(scores, as_labels(labels, scores.shape[0], scores.shape[1]))
        self._mark_fitted()
        return self

    def transform(
        self, *, logits: ArrayLike | None = None, probs: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """Calibrated probabilities, shape ``(n, K)``.

        Raises:
            NotFittedError: Before :meth:`fit`.
        """
        self._require_fitted()
        return self._transform(log_scores(logits, probs))

    def _check_params(self) -> None:
        """Raises :class:`InputError` for parameters :meth:`fit` cannot use (none by default)."""

    @abstractmethod
    def _fit(self, scores: NDArray[np.float64], labels: NDArray[np.intp]) -> None:
        """Learns the map from checked log-scores and labels."""

    @abstractmethod
    def _transform(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """Applies the learnt map to checked log-scores."""


def equal_length_vectors(state: dict[str, Any], first: str, second: str) -> tuple[NDArray[np.float64], ...]:
    """Two 1-D arrays of equal length from a saved state (``to_dict``'s ``state``).

    Raises:
        ValueError: If they are not 1-D or differ in length (``from_dict`` reports it as an InputError).
    """
    vectors = (np.asarray(state[first], dtype=np.float64), np.asarray(state[second], dtype=np.float64))
    if vectors[0].shape != vectors[1].shape or vectors[0].ndim != 1:
        raise ValueError(f"{first} and {second} must be 1-D arrays of equal length")
    return vectors


def register_calibrator(cls: CalibratorClass) -> CalibratorClass:
    """Class decorator adding ``cls`` to :data:`CALIBRATORS` under its ``name``.

    Registration is explicit so that the registry's contents are visible where each class is defined, and
    helper or experimental subclasses stay out of it.

    Raises:
        TypeError: If ``cls`` defines no ``name`` of its own (it would be registered under its parent's).
        ValueError: If another calibrator already has that name.
    """
    if "name" not in vars(cls) or not isinstance(vars(cls)["name"], str):
        raise TypeError(
            f'{cls.__qualname__} has no `name` of its own; set the class attribute `name = "..."` '
            "(the key saved calibrators and the CLI use) before registering it."
        )
    CALIBRATORS.add(cls.name, cls)
    return cls


def calibrator_from_dict(data: dict[str, Any]) -> Calibrator:
    """Rebuilds any saved calibrator, dispatching on its ``"calibrator"`` name."""
    if not isinstance(data, dict) or "calibrator" not in data:
        raise InputError(
            "A saved calibrator must be a dict with a 'calibrator' key (see Calibrator.to_dict)."
        )
    return CALIBRATORS.get(str(data["calibrator"])).from_dict(data)


def log_scores(logits: ArrayLike | None, probs: ArrayLike | None) -> NDArray[np.float64]:
    """The (n, K) log-score matrix from exactly one of ``logits=`` or ``probs=``.

    Probabilities become log-probabilities, which softmax maps back to the same probabilities, so a
    calibrator fitted on either gives the same result.
    """
    if logits is not None and probs is None:
        return as_logits(logits)
    if probs is not None and logits is None:
        return np.log(np.maximum(as_probabilities(probs), np.finfo(np.float64).tiny))
    raise InputError("Pass exactly one of `logits=` or `probs=`.")
