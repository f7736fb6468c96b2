"""Change of every metric between two runs on the same items, e.g. a pretrained and an aligned model.

For each metric: the two values, the change ``delta = aligned - base`` with a paired bootstrap interval (items
are resampled once and both runs are scored on the same resample, so the interval reflects the change and not
the noise of each run; re-centred on ``delta`` as every llmcal interval is, see
:mod:`llmcal.metrics.bootstrap`, so it always holds ``delta``), and the change rate ``CR = delta / base`` of
Oh & Hwang (2024). When several model pairs are compared, each pair is ranked by CR within its task x method x
metric, descending, as in the authors' tables (rank 1 = the largest relative increase).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from llmcal.errors import CalibrationWarning, InputError
from llmcal.metrics.bootstrap import recentred_interval
from llmcal.metrics.catalog import METRICS
from llmcal.metrics.count_bootstrap import resampled_changes
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import metric_value

__all__ = ["MetricChange", "change", "change_rate", "metric_changes", "rank_by_change_rate"]


def change(base: float, other: float) -> float:
    """Absolute change ``other - base`` (e.g. ECE(aligned) - ECE(pretrained)).

    Examples:
        >>> round(change(0.05, 0.12), 6)
        0.07
    """
    return float(other) - float(base)


def change_rate(base: float, other: float) -> float:
    """Relative change ``(other - base) / base``, the "change rate" (CR) of Oh & Hwang (2024).

    Returns:
        The rate as a fraction (0.5 means +50%). NaN, with a :class:`CalibrationWarning`, when ``base``
        is 0, since the rate is then undefined.

    Examples:
        >>> round(change_rate(0.05, 0.12), 6)
        1.4
    """
    if float(base) == 0.0 or math.isnan(base) or math.isnan(other):
        warnings.warn(
            f"change rate is undefined for base={base!r}, other={other!r}; returning NaN.",
            CalibrationWarning,
            stacklevel=2,
        )
        return float("nan")
    return (float(other) - float(base)) / float(base)


@dataclass(frozen=True)
class MetricChange:
    """One metric of one task x confidence method: its value in both runs and the change between them.

    Attributes:
        pair: Name of the model pair.
        task: Task name.
        method: Confidence method.
        metric: A name from :data:`~llmcal.metrics.METRICS`.
        base: Value in the base (e.g. pretrained) run.
        aligned: Value in the aligned run.
        delta: ``aligned - base``.
        delta_low: Lower end of the paired bootstrap interval of ``delta``.
        delta_high: Upper end of that interval.
        change_rate: ``delta / base`` (NaN where ``base`` is 0).
        rank: Rank of this pair by change rate among all pairs (1 = largest), or ``None`` for one pair.
    """

    pair: str
    task: str
    method: str
    metric: str
    base: float
    aligned: float
    delta: float
    delta_low: float
    delta_high: float
    change_rate: float
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN becomes ``None``)."""
        return {
            key: None if isinstance(value, float) and math.isnan(value) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricChange:
        """Inverse of :meth:`to_dict`."""
        numbers = ("base", "aligned", "delta", "delta_low", "delta_high", "change_rate")
        values = {key: float("nan") if data[key] is None else float(data[key]) for key in numbers}
        rank = data.get("rank")
        return cls(
            str(data["pair"]),
            str(data["task"]),
            str(data["method"]),
            str(data["metric"]),
            **values,
            rank=None if rank is None else int(rank),
        )


def difference_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    """The range of ``m(aligned) - m(base)`` for a metric ``m`` with range ``bounds``: (-1, 1) for ECE.

    Examples:
        >>> difference_bounds((0.0, 2.0))
        (-2.0, 2.0)
    """
    return bounds[0] - bounds[1], bounds[1] - bounds[0]


def metric_changes(
    base: Predictions,
    aligned: Predictions,
    metrics: Sequence[str],
    settings: MetricSettings = MetricSettings(),
    *,
    pair: str = "",
    task: str = "",
    method: str = "",
    on_metric_done: Callable[[str], None] | None = None,
) -> list[MetricChange]:
    """The change of each of ``metrics`` from ``base`` to ``aligned``: predictions of the same items.

    Args:
        base: The reference predictions (e.g. of the pretrained model).
        aligned: Predictions of the same items, in the same order, by the model compared to it.
        metrics: Names from :data:`~llmcal.metrics.METRICS`.
        settings: Binning and bootstrap settings.
        pair: Name of the model pair, copied into every change.
        task: Task name, copied into every change.
        method: Confidence method, copied into every change.
        on_metric_done: Called with each metric's name when its change is computed (progress bars).

    Raises:
        InputError: If a metric name is unknown or the two predictions cover different numbers of items.
    """
    if base.n_items != aligned.n_items:
        raise InputError(
            f"{base.source} has {base.n_items} items and {aligned.source} {aligned.n_items}; a paired "
            "comparison needs the same items in both."
        )
    deltas = resampled_changes(base, aligned, metrics, settings)
    changes: list[MetricChange] = []
    for name in metrics:
        spec = METRICS.get(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CalibrationWarning)  # undefined values become NaN
            before, after = metric_value(base, name, settings), metric_value(aligned, name, settings)
            rate = change_rate(before, after)
        delta = change(before, after)
        low, high = recentred_interval(delta, deltas[name], settings.level, difference_bounds(spec.bounds))
        changes.append(MetricChange(pair, task, method, name, before, after, delta, low, high, rate))
        if on_metric_done is not None:
            on_metric_done(name)
    return changes


def rank_by_change_rate(changes: Sequence[MetricChange]) -> list[MetricChange]:
    """``changes`` with ``rank`` set: pairs ranked by change rate within each task x method x metric.

    Rank 1 is the largest relative increase; undefined rates rank last. With a single pair the ranks
    stay ``None``.
    """
    groups: dict[tuple[str, str, str], list[int]] = {}
    for index, item in enumerate(changes):
        groups.setdefault((item.task, item.method, item.metric), []).append(index)
    ranked = list(changes)
    for indices in groups.values():
        if len({changes[index].pair for index in indices}) < 2:
            continue
        order = sorted(indices, key=lambda i: (math.isnan(changes[i].change_rate), -_finite(changes[i])))
        for rank, index in enumerate(order, start=1):
            ranked[index] = replace(changes[index], rank=rank)
    return ranked


def _finite(item: MetricChange) -> float:
    return 0.0 if math.isnan(item.change_rate) else item.change_rate
