"""Input checks for the metric functions, in one place so every metric fails the same way.

Each ``as_*`` function validates one argument and returns it as a contiguous float64 (or intp) array,
so the metric kernels behind them never check again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from llmcal.errors import InputError

__all__ = [
    "ROW_SUM_TOLERANCE",
    "BinStrategy",
    "as_confidences",
    "as_correct",
    "as_labels",
    "as_logits",
    "as_option_mask",
    "as_probabilities",
    "as_scores",
    "check_n_bins",
    "check_strategy",
    "padded_rows",
]

BinStrategy = Literal["uniform", "quantile"]

# float32 softmax outputs of a 150k-token vocabulary renormalised over K options drift by ~1e-6;
# half-precision ones by ~1e-3. 1e-3 accepts both while still catching unnormalised scores.
ROW_SUM_TOLERANCE = 1e-3


def _as_float_array(values: ArrayLike, name: str, ndim: int) -> NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"`{name}` must be numeric; could not convert it to float ({error}).") from None
    if array.ndim != ndim:
        shape = "(n,)" if ndim == 1 else "(n, n_options)"
        raise InputError(f"`{name}` must have shape {shape}; got an array of shape {array.shape}.")
    if array.shape[0] == 0:
        raise InputError(f"`{name}` is empty; a calibration metric needs at least one item.")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).reshape(array.shape[0], -1).all(axis=1))[0])
        raise InputError(
            f"`{name}` contains NaN or infinite values (first at item {bad}). "
            "Drop or fix those items before computing metrics."
        )
    return np.ascontiguousarray(array)


def as_confidences(values: ArrayLike, name: str = "confidences") -> NDArray[np.float64]:
    """Validates a vector of confidences in [0, 1].

    Raises:
        InputError: If it is not 1-D, is empty, has NaN/inf, or leaves [0, 1].
    """
    array = _as_float_array(values, name, ndim=1)
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise InputError(
            f"`{name}` must lie in [0, 1]; got min={low:.4g}, max={high:.4g}. "
            "If these are logits or log-probabilities, convert them with a softmax first "
            "(or use TemperatureScaler().fit(logits=..., labels=...))."
        )
    return array


def as_scores(values: ArrayLike, name: str = "scores") -> NDArray[np.float64]:
    """Validates a vector of finite real scores (any range: only their order is read).

    Raises:
        InputError: If it is not 1-D, is empty, or has NaN/inf.
    """
    return _as_float_array(values, name, ndim=1)


def as_correct(values: ArrayLike, n_items: int, name: str = "correct") -> NDArray[np.float64]:
    """Validates a 0/1 (or boolean) correctness vector of length ``n_items``.

    Returned as float64 so it can be averaged and weighted directly.

    Raises:
        InputError: If the length differs from ``n_items`` or any value is not 0 or 1.
    """
    array = _as_float_array(values, name, ndim=1)
    if array.shape[0] != n_items:
        raise InputError(
            f"`{name}` has {array.shape[0]} items but the confidences have {n_items}; "
            "they must be aligned item by item."
        )
    not_binary = np.flatnonzero(~np.isin(array, (0.0, 1.0)))
    if not_binary.size:
        hint = "Pass correctness (prediction == label), not the labels themselves."
        first = int(not_binary[0])
        raise InputError(
            f"`{name}` must hold 0/1 or True/False; item {first} is {float(array[first])!r}. {hint}"
        )
    return array


def as_probabilities(values: ArrayLike, name: str = "probs") -> NDArray[np.float64]:
    """Validates an (n, K) matrix of per-option probabilities whose rows sum to 1.

    Raises:
        InputError: If it is not 2-D with K >= 2, has NaN/inf, leaves [0, 1], or a row does not sum to
            1 within :data:`ROW_SUM_TOLERANCE`.
    """
    array = _as_float_array(values, name, ndim=2)
    if array.shape[1] < 2:
        raise InputError(f"`{name}` must have at least 2 options (columns); got shape {array.shape}.")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise InputError(
            f"`{name}` must lie in [0, 1]; got min={low:.4g}, max={high:.4g}. "
            "If these are logits or log-likelihood scores, apply a softmax over each row first."
        )
    row_error = np.abs(array.sum(axis=1) - 1.0)
    worst = int(np.argmax(row_error))
    if row_error[worst] > ROW_SUM_TOLERANCE:
        raise InputError(
            f"Each row of `{name}` must sum to 1; row {worst} sums to {array[worst].sum():.6g}. "
            "Renormalise with probs / probs.sum(axis=1, keepdims=True)."
        )
    return array


def as_logits(values: ArrayLike, name: str = "logits") -> NDArray[np.float64]:
    """Validates an (n, K) matrix of unnormalised scores (logits or log-probabilities), K >= 2.

    Raises:
        InputError: If it is not 2-D with K >= 2 or has NaN/inf.
    """
    array = _as_float_array(values, name, ndim=2)
    if array.shape[1] < 2:
        raise InputError(f"`{name}` must have at least 2 options (columns); got shape {array.shape}.")
    return array


def as_labels(values: ArrayLike, n_items: int, n_options: int, name: str = "labels") -> NDArray[np.intp]:
    """Validates integer labels in ``[0, n_options)``, one per item.

    Raises:
        InputError: If the length differs, a value is not an integer, or a value is out of range.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise InputError(f"`{name}` must have shape (n,); got an array of shape {array.shape}.")
    if array.shape[0] != n_items:
        raise InputError(
            f"`{name}` has {array.shape[0]} items but the probabilities have {n_items} rows; "
            "they must be aligned item by item."
        )
    if array.dtype.kind == "f":
        if not (np.isfinite(array).all() and (array == np.round(array)).all()):
            raise InputError(f"`{name}` must hold integer option indices; got non-integer values.")
    elif array.dtype.kind not in "iub":
        raise InputError(f"`{name}` must hold integer option indices; got dtype {array.dtype}.")
    labels = array.astype(np.intp)
    out_of_range = (labels < 0) | (labels >= n_options)
    if out_of_range.any():
        bad = int(np.flatnonzero(out_of_range)[0])
        raise InputError(
            f"`{name}` must index the {n_options} options (0..{n_options - 1}); "
            f"item {bad} has {int(labels[bad])}."
        )
    return labels


def as_option_mask(
    values: ArrayLike | None, probs: NDArray[np.float64], labels: NDArray[np.intp], name: str = "option_mask"
) -> NDArray[np.bool_]:
    """Validates which options exist per item when items have different option counts (ARC: 3 to 5).

    ``None`` means every item has all ``K`` options. Otherwise an ``(n, K)`` boolean matrix, True where the
    option exists; the probabilities of the others must be 0 (zero padding), and the gold option must exist.

    Raises:
        InputError: If the shape differs from ``probs``, a value is not boolean, a padded option has
            probability above 0, or a gold label points at a padded option.
    """
    if values is None:
        return np.ones(probs.shape, dtype=np.bool_)
    array = np.asarray(values)
    if array.shape != probs.shape:
        raise InputError(
            f"`{name}` must have the shape of the probabilities, {probs.shape}; got {array.shape}."
        )
    if array.dtype != np.bool_ and not np.isin(array, (0, 1)).all():
        raise InputError(f"`{name}` must hold True/False (does option k exist for item i?).")
    mask = array.astype(np.bool_)
    padded_mass = np.where(mask, 0.0, probs)
    if (padded_mass > 0).any():
        row, column = (int(i) for i in np.argwhere(padded_mass > 0)[0])
        raise InputError(
            f"`{name}` marks option {column} of item {row} as padding, but its probability is "
            f"{probs[row, column]:.4g}; padded options must have probability 0."
        )
    missing_gold = ~mask[np.arange(len(labels)), labels]
    if missing_gold.any():
        row = int(np.flatnonzero(missing_gold)[0])
        raise InputError(f"`labels` item {row} is {int(labels[row])}, an option `{name}` marks as padding.")
    return mask


def check_n_bins(n_bins: int) -> int:
    """Validates a bin count (a positive integer)."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise InputError(f"`n_bins` must be a positive integer; got {n_bins!r}.")
    return int(n_bins)


def check_strategy(strategy: str) -> BinStrategy:
    """Validates a binning strategy name."""
    allowed = get_args(BinStrategy)
    if strategy not in allowed:
        raise InputError(f"`strategy` must be one of {', '.join(allowed)}; got {strategy!r}.")
    return strategy  # type: ignore[return-value]


def padded_rows(rows: Sequence[Sequence[float]]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Rows of different lengths as a zero-padded ``(n, K)`` matrix and its ``option_mask``.

    Examples:
        >>> probs, mask = padded_rows([[0.5, 0.5], [0.2, 0.3, 0.5]])
        >>> probs.tolist(), mask.tolist()
        ([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], [[True, True, False], [True, True, True]])
    """
    width = max(len(row) for row in rows)
    probs = np.zeros((len(rows), width))
    mask = np.zeros((len(rows), width), dtype=np.bool_)
    for index, row in enumerate(rows):
        probs[index, : len(row)] = row
        mask[index, : len(row)] = True
    return probs, mask
