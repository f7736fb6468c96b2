"""A metric, or its change between two models, averaged over training seeds, with a paired interval.

A study trains each variant under several seeds and evaluates every model on one fixed test set. Its
statistic is the mean over seeds of ``metric(other_s) - metric(base_s)``; the interval resamples the test
items, the same resample for every seed and both arms
(:func:`~llmcal.metrics.count_bootstrap.resampled_together`), so it carries the item-sampling noise of the
whole comparison; the spread between seeds is reported beside it (:attr:`SeedAveragedChange.per_seed`)
rather than hidden in it: with three seeds, resampling seeds would say little.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llmcal.errors import CalibrationWarning, InputError
from llmcal.metrics.bootstrap import recentred_interval
from llmcal.metrics.catalog import METRICS
from llmcal.metrics.comparison import difference_bounds
from llmcal.metrics.count_bootstrap import resampled_together
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import metric_value

__all__ = ["SeedAveragedChange", "seed_averaged_changes", "seed_averaged_values", "seed_mean"]


@dataclass(frozen=True)
class SeedAveragedChange:
    """``metric(other) - metric(base)`` averaged over seeds, with its paired 95% interval.

    Attributes:
        metric: Catalogue metric name.
        before: Mean over seeds of the metric of the base.
        after: Mean over seeds of the metric of the other model.
        delta: ``after - before``.
        low: Interval's lower end.
        high: Interval's upper end.
        per_seed: Each seed's own change.
    """

    metric: str
    before: float
    after: float
    delta: float
    low: float
    high: float
    per_seed: tuple[float, ...]

    @property
    def seeds_agreeing(self) -> int:
        """Seeds whose own change has the sign of :attr:`delta` (0 when it is 0 or NaN)."""
        if not self.delta or math.isnan(self.delta):
            return 0
        return sum(1 for value in self.per_seed if np.sign(value) == np.sign(self.delta))


def _values(run: Predictions, name: str, settings: MetricSettings) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # undefined values become NaN
        return metric_value(run, name, settings)


def seed_mean(runs: Sequence[Predictions], name: str, settings: MetricSettings = MetricSettings()) -> float:
    """A metric's mean over seeds, without an interval (an undefined value is NaN)."""
    return float(np.mean([_values(run, name, settings) for run in runs]))


def seed_averaged_changes(
    bases: Sequence[Predictions],
    others: Sequence[Predictions],
    names: Sequence[str],
    settings: MetricSettings = MetricSettings(),
) -> list[SeedAveragedChange]:
    """The seed-averaged change of each metric from ``bases[s]`` to ``others[s]``.

    Args:
        bases: Per seed, the reference predictions (the same object repeated for a model with no seed).
        others: Per seed, predictions of the same items in the same order.
        names: Catalogue metric names.
        settings: Binning, resamples, level and the bootstrap's seed.

    Raises:
        InputError: If the lists differ in length or are empty, or the runs hold different items counts.
    """
    if not bases or len(bases) != len(others):
        raise InputError(f"Need one base per seed; got {len(bases)} bases and {len(others)} others.")
    resampled = resampled_together([*bases, *others], names, settings)
    n_seeds = len(bases)
    changes = []
    for name in names:
        before = [_values(run, name, settings) for run in bases]
        after = [_values(run, name, settings) for run in others]
        per_seed = tuple(later - earlier for earlier, later in zip(before, after, strict=True))
        draws = np.mean(
            [
                np.concatenate(resampled[n_seeds + seed][name]) - np.concatenate(resampled[seed][name])
                for seed in range(n_seeds)
            ],
            axis=0,
        )
        delta = float(np.mean(per_seed))
        low, high = recentred_interval(
            delta, [draws], settings.level, difference_bounds(METRICS.get(name).bounds)
        )
        changes.append(
            SeedAveragedChange(
                name, float(np.mean(before)), float(np.mean(after)), delta, low, high, per_seed
            )
        )
    return changes


def seed_averaged_values(
    runs: Sequence[Predictions], names: Sequence[str], settings: MetricSettings = MetricSettings()
) -> dict[str, tuple[float, float, float]]:
    """Each metric's mean over seeds, with its interval over resamples of the items: ``(value, low, high)``.

    Raises:
        InputError: If ``runs`` is empty or its runs hold different item counts.
    """
    resampled = resampled_together(runs, names, settings)
    values = {}
    for name in names:
        value = seed_mean(runs, name, settings)
        draws = np.mean([np.concatenate(per_run[name]) for per_run in resampled], axis=0)
        low, high = recentred_interval(value, [draws], settings.level, METRICS.get(name).bounds)
        values[name] = (value, low, high)
    return values
