r"""Bootstrap confidence intervals for any metric, re-centred on the estimate so they always hold it.

**The convention** (every interval llmcal reports: :func:`bootstrap_ci`, :func:`~llmcal.metrics.summarize`,
the paired changes of :func:`~llmcal.metrics.metric_changes`). Items are resampled with replacement;
with :math:`q_{lo}`, :math:`m` and :math:`q_{hi}` the :math:`(1-\text{level})/2` quantile, the median and
the :math:`(1+\text{level})/2` quantile of the resampled metric, the interval is

.. math:: [\hat\theta - (m - q_{lo}),\ \hat\theta + (q_{hi} - m)]

clipped to the metric's range: the percentile interval's spread on each side of the bootstrap median,
placed around the estimate :math:`\hat\theta` on all items. It holds :math:`\hat\theta` by construction.

Why not the plain percentile interval :math:`[q_{lo}, q_{hi}]`: calibration errors (ECE, MCE, RMS-CE,
smooth ECE, SCE, ACE) are absolute values of noisy gaps, so a resample, which adds noise, scores higher
than the sample it came from; on a well-calibrated sample the whole bootstrap distribution can sit above
the estimate (seen: smooth ECE 0.006 [0.007, 0.009]). Re-centring on the median removes that shift, as
a median-bias-corrected percentile interval (Efron & Tibshirani 1993, ch. 10 on bootstrap bias, ch. 13
on the percentile interval). For a metric whose bootstrap distribution is centred on the estimate
(accuracy, Brier score, NLL, AUROC: means and U-statistics) the median is the estimate up to Monte-Carlo
noise and the interval is the percentile interval. The median, not the mean, is the centre, so the
interval keeps the percentile interval's asymmetry and is unmoved by a few extreme resamples. BCa
(Efron 1987) was not chosen: its bias correction :math:`\Phi^{-1}(\#\{\theta^* < \hat\theta\}/B)` is
infinite exactly in the case at hand, when no resample falls below the estimate.

What the interval is not: a bias-corrected interval for the *true* calibration error. Binned and smoothed
calibration errors overestimate it on finite samples (Kumar, Liang & Ma 2019; Roelofs et al. 2022), so
the true error tends to lie in the lower part of the interval, or below it. The interval says how much
the estimate moves from sample to sample.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from llmcal.errors import CalibrationWarning, InputError

__all__ = [
    "ConfidenceInterval",
    "bootstrap_ci",
    "check_bootstrap_options",
    "recentred_interval",
    "warn_if_undefined",
]

Bounds = tuple[float, float]
UNBOUNDED: Bounds = (-math.inf, math.inf)


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a two-sided interval that holds it.

    Attributes:
        estimate: The metric on the full sample.
        low: Lower end of the interval (``low <= estimate`` whenever both are finite).
        high: Upper end of the interval (``estimate <= high`` whenever both are finite).
        level: Coverage the interval was built for, e.g. 0.95.
    """

    estimate: float
    low: float
    high: float
    level: float


def check_bootstrap_options(n_resamples: int, level: float) -> None:
    """Validates the resample count and coverage of an interval.

    Raises:
        InputError: If ``n_resamples`` is not a positive integer or ``level`` is outside (0, 1).
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise InputError(f"`n_resamples` must be a positive integer; got {n_resamples!r}.")
    if not 0.0 < level < 1.0:
        raise InputError(f"`level` must be in (0, 1); got {level!r}.")


def recentred_interval(
    estimate: float, groups: Sequence[NDArray[np.float64]], level: float, bounds: Bounds = UNBOUNDED
) -> tuple[float, float]:
    """The interval of the module's convention from resampled values of the metric.

    Args:
        estimate: The metric on all items.
        groups: Resampled values, NaN where the metric was undefined on a resample. One group for a plain
            bootstrap; several for the bag of little bootstraps (:mod:`llmcal.metrics.count_bootstrap`),
            each centred on its own median before the groups' spreads are pooled.
        level: Two-sided coverage in (0, 1).
        bounds: The metric's range (:attr:`~llmcal.metrics.MetricSpec.bounds`); the ends are clipped to it.

    Returns:
        ``(low, high)`` with ``low <= estimate <= high``; NaN ends when no resample gave a value or the
        estimate is NaN.

    Examples:
        >>> recentred_interval(0.5, [np.array([0.625, 0.75, 0.875])], 0.5)  # resamples all above 0.5
        (0.4375, 0.5625)
    """
    deviations = []
    for values in groups:
        defined = values[~np.isnan(values)]
        if len(defined):
            deviations.append(defined - np.median(defined))
    if not deviations or math.isnan(estimate):
        return math.nan, math.nan
    pooled = np.concatenate(deviations)
    below, above = np.quantile(pooled, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    # Each group has half its deviations on either side of 0, so the quantiles straddle 0 already; min
    # and max only guard against rounding.
    low = max(estimate + min(float(below), 0.0), bounds[0])
    high = min(estimate + max(float(above), 0.0), bounds[1])
    return min(low, estimate), max(high, estimate)


def warn_if_undefined(n_undefined: int, n_resamples: int, stacklevel: int) -> None:
    """Warns once when more than 1% of the resamples gave an undefined metric (they are dropped)."""
    if n_undefined > 0.01 * n_resamples:
        warnings.warn(
            f"{n_undefined} of {n_resamples} bootstrap resamples gave an undefined metric "
            "and were dropped; the interval may be too narrow.",
            CalibrationWarning,
            stacklevel=stacklevel + 1,
        )


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: ArrayLike,
    n_resamples: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator | int | None = 0,
    bounds: Bounds = UNBOUNDED,
    **metric_kwargs: object,
) -> ConfidenceInterval:
    """Bootstrap interval of ``metric(*arrays, **metric_kwargs)``, re-centred on the estimate.

    Items (rows) are resampled with replacement, jointly across ``arrays``; the interval follows the
    module's convention (the percentile interval's spread around the bootstrap median, placed around the
    estimate). With the same ``rng`` seed and the same number of items, every metric sees the same
    resamples, so intervals of different metrics on one run are paired. This is the plain path: one call
    of ``metric`` per resample, for any function; :func:`~llmcal.metrics.summarize` computes the
    catalogue's metrics from the same resamples at once (:mod:`llmcal.metrics.count_bootstrap`).

    Args:
        metric: A function of the arrays returning a float, e.g. :func:`llmcal.metrics.ece`.
        *arrays: Item-aligned inputs of ``metric`` (same first dimension).
        n_resamples: Number of bootstrap resamples.
        level: Two-sided coverage in (0, 1).
        rng: Seed or generator; the default 0 makes intervals reproducible.
        bounds: The range of ``metric`` the interval is clipped to, e.g. ``(0, 1)`` for ECE
            (:attr:`~llmcal.metrics.MetricSpec.bounds`); unbounded by default.
        **metric_kwargs: Passed to ``metric`` unchanged (e.g. ``n_bins=10``).

    Returns:
        The estimate on the full sample and an interval that holds it. Resamples where the metric is
        undefined (NaN, e.g. AUROC on a resample with one class) are dropped; if more than 1% are, a
        :class:`CalibrationWarning` says so. If none is defined, the interval is NaN.

    Raises:
        InputError: If no arrays are given, they differ in length, or the options are out of range.

    References:
        Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 10 and 13.

    Examples:
        >>> from llmcal.metrics import ece
        >>> interval = bootstrap_ci(ece, [0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], n_resamples=200)
        >>> interval.low <= interval.estimate <= interval.high
        True
    """
    if not arrays:
        raise InputError("bootstrap_ci needs at least one array to resample.")
    check_bootstrap_options(n_resamples, level)
    data = _item_aligned(arrays)
    estimate = float(metric(*data, **metric_kwargs))
    samples = _resampled(metric, data, n_resamples, np.random.default_rng(rng), metric_kwargs)
    warn_if_undefined(int(np.isnan(samples).sum()), n_resamples, stacklevel=2)
    low, high = recentred_interval(estimate, [samples], level, bounds)
    return ConfidenceInterval(estimate, low, high, level)


def _item_aligned(arrays: Sequence[ArrayLike]) -> list[NDArray[np.generic]]:
    """``arrays`` as numpy arrays, checked to have one length (the items).

    Raises:
        InputError: If their lengths differ.
    """
    data = [np.asarray(array) for array in arrays]
    if any(len(array) != len(data[0]) for array in data):
        lengths = ", ".join(str(len(array)) for array in data)
        raise InputError(f"bootstrap_ci arrays must have the same number of items; got lengths {lengths}.")
    return data


def _resampled(
    metric: Callable[..., float],
    data: list[NDArray[np.generic]],
    n_resamples: int,
    generator: np.random.Generator,
    metric_kwargs: dict[str, object],
) -> NDArray[np.float64]:
    """``metric`` on each of ``n_resamples`` resamples of the items (NaN where it is undefined)."""
    n_items = len(data[0])
    samples = np.empty(n_resamples)
    with warnings.catch_warnings():
        # Degenerate resamples are expected now and then; the caller counts them rather than warn for each.
        warnings.simplefilter("ignore", CalibrationWarning)
        for index in range(n_resamples):
            rows = generator.integers(0, n_items, size=n_items)
            samples[index] = metric(*(array[rows] for array in data), **metric_kwargs)
    return samples
