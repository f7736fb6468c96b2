"""Percentile bootstrap confidence intervals for any metric."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from llmcal.errors import CalibrationWarning, InputError

__all__ = ["ConfidenceInterval", "bootstrap_ci"]


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a two-sided interval.

    Attributes:
        estimate: The metric on the full sample.
        low: Lower end of the interval.
        high: Upper end of the interval.
        level: Coverage the interval was built for, e.g. 0.95.
    """

    estimate: float
    low: float
    high: float
    level: float


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: ArrayLike,
    n_resamples: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator | int | None = 0,
    **metric_kwargs: object,
) -> ConfidenceInterval:
    """Percentile bootstrap interval of ``metric(*arrays, **metric_kwargs)``.

    Items (rows) are resampled with replacement, jointly across ``arrays``. With the same ``rng`` seed
    and the same number of items, every metric sees the same resamples, so intervals of different
    metrics on one run are paired.

    Args:
        metric: A function of the arrays returning a float, e.g. :func:`llmcal.metrics.ece`.
        *arrays: Item-aligned inputs of ``metric`` (same first dimension).
        n_resamples: Number of bootstrap resamples.
        level: Two-sided coverage in (0, 1).
        rng: Seed or generator; the default 0 makes intervals reproducible.
        **metric_kwargs: Passed to ``metric`` unchanged (e.g. ``n_bins=10``).

    Returns:
        The estimate on the full sample and the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of
        the resampled estimates. Resamples where the metric is undefined (NaN, e.g. AUROC on a resample
        with one class) are dropped; if more than 1% are, a :class:`CalibrationWarning` says so.

    Raises:
        InputError: If no arrays are given, they differ in length, or the options are out of range.

    References:
        Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13.

    Examples:
        >>> from llmcal.metrics import ece
        >>> interval = bootstrap_ci(ece, [0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], n_resamples=200)
        >>> interval.low <= interval.estimate <= interval.high
        True
    """
    if not arrays:
        raise InputError("bootstrap_ci needs at least one array to resample.")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise InputError(f"`n_resamples` must be a positive integer; got {n_resamples!r}.")
    if not 0.0 < level < 1.0:
        raise InputError(f"`level` must be in (0, 1); got {level!r}.")
    data = [np.asarray(array) for array in arrays]
    n_items = len(data[0])
    if any(len(array) != n_items for array in data):
        lengths = ", ".join(str(len(array)) for array in data)
        raise InputError(f"bootstrap_ci arrays must have the same number of items; got lengths {lengths}.")

    estimate = metric(*data, **metric_kwargs)
    generator = np.random.default_rng(rng)
    samples = np.empty(n_resamples)
    with warnings.catch_warnings():
        # Degenerate resamples are expected now and then; they are counted below, not warned one by one.
        warnings.simplefilter("ignore", CalibrationWarning)
        for index in range(n_resamples):
            rows = generator.integers(0, n_items, size=n_items)
            samples[index] = metric(*(array[rows] for array in data), **metric_kwargs)
    defined = samples[~np.isnan(samples)]
    if len(defined) < 0.99 * n_resamples:
        warnings.warn(
            f"{n_resamples - len(defined)} of {n_resamples} bootstrap resamples gave an undefined metric "
            "and were dropped; the interval may be too narrow.",
            CalibrationWarning,
            stacklevel=2,
        )
    if len(defined) == 0:
        return ConfidenceInterval(float(estimate), float("nan"), float("nan"), level)
    low, high = np.quantile(defined, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return ConfidenceInterval(float(estimate), float(low), float(high), level)
