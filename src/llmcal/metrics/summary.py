"""Every metric with a bootstrap interval for one set of predictions, and the compact row without them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.errors import InputError
from llmcal.metrics.binning import ReliabilityBins, reliability_bins
from llmcal.metrics.bootstrap import recentred_interval, warn_if_undefined
from llmcal.metrics.calibration_error import ece, sce, top_label_confidence
from llmcal.metrics.catalog import METRICS
from llmcal.metrics.count_bootstrap import ProgressCallback, resampled_metrics
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.scoring_rules import brier
from llmcal.metrics.settings import MetricSettings

__all__ = [
    "CALIBRATION_ROW_BINNING",
    "CalibrationRow",
    "MetricValue",
    "Summary",
    "applicable_metrics",
    "calibration_row",
    "metric_arrays",
    "metric_value",
    "predictions_row",
    "summarize",
]


@dataclass(frozen=True)
class MetricValue:
    """One metric's value and bootstrap interval (NaN where undefined on this data).

    The interval is the percentile interval re-centred on the value (:mod:`llmcal.metrics.bootstrap`), so
    ``ci_low <= value <= ci_high`` whenever the three are finite.

    Attributes:
        binning: How a binned metric was binned (``n_bins``, ``strategy``); empty for the others.
    """

    name: str
    value: float
    ci_low: float
    ci_high: float
    summary: str
    binning: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form: NaN becomes ``None``, the binning keys sit beside the values."""
        return {
            "value": _none_if_nan(self.value),
            "ci_low": _none_if_nan(self.ci_low),
            "ci_high": _none_if_nan(self.ci_high),
            "summary": self.summary,
            **self.binning,
        }

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> MetricValue:
        """Inverse of :meth:`to_dict`."""
        binning = {key: data[key] for key in ("n_bins", "strategy") if key in data}
        return cls(
            name,
            _nan_if_none(data["value"]),
            _nan_if_none(data["ci_low"]),
            _nan_if_none(data["ci_high"]),
            str(data["summary"]),
            binning,
        )


@dataclass(frozen=True)
class Summary:
    """All metrics for one set of predictions, with the settings that produced them.

    Attributes:
        reliability: The reliability bins of the top-label confidences; ``None`` when read back from a
            results file, which keeps them in ``bins.csv`` instead.
    """

    source: str
    n_items: int
    n_options: int | None
    settings: MetricSettings
    metrics: list[MetricValue]
    reliability: ReliabilityBins | None = None

    def metric(self, name: str) -> MetricValue | None:
        """The value of metric ``name``, or ``None`` if it was not computed (e.g. SCE of top-label input)."""
        return next((metric for metric in self.metrics if metric.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (NaN becomes ``None``); ``reliability`` only when present."""
        data: dict[str, Any] = {
            "source": self.source,
            "n_items": self.n_items,
            "n_options": self.n_options,
            "settings": asdict(self.settings),
            "metrics": {metric.name: metric.to_dict() for metric in self.metrics},
        }
        if self.reliability is not None:
            data["reliability"] = self.reliability.to_rows()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """Inverse of :meth:`to_dict` (without the reliability bins)."""
        metrics = [MetricValue.from_dict(name, value) for name, value in data["metrics"].items()]
        n_options = data["n_options"]
        return cls(
            str(data["source"]),
            int(data["n_items"]),
            None if n_options is None else int(n_options),
            MetricSettings(**data["settings"]),
            metrics,
        )


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else value


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def applicable_metrics(predictions: Predictions) -> list[str]:
    """Names of the catalogue metrics these predictions support (all, or the top-label ones only)."""
    has_probs = predictions.probs is not None
    return [name for name in METRICS if has_probs or METRICS.get(name).inputs == "top_label"]


def metric_arrays(predictions: Predictions, name: str) -> tuple[NDArray[Any], ...]:
    """The arrays metric ``name`` takes from ``predictions``, item-aligned for the bootstrap.

    Option-probability metrics get ``(probs, labels, option_mask)`` with the mask always present, so a
    bootstrap resamples it with the rows.

    Raises:
        InputError: If ``name`` is not a registered metric.
    """
    if METRICS.get(name).inputs == "top_label":
        return predictions.confidences, predictions.correct
    if predictions.probs is None or predictions.labels is None:
        raise InputError(
            f"metric {name!r} needs per-option probabilities and gold labels; {predictions.source} has only "
            "top-label confidences. Choose a top-label metric (see `applicable_metrics`)."
        )
    mask = predictions.option_mask
    if mask is None:
        mask = np.ones(predictions.probs.shape, dtype=np.bool_)
    return predictions.probs, predictions.labels, mask


def metric_value(predictions: Predictions, name: str, settings: MetricSettings) -> float:
    """Metric ``name`` of ``predictions`` under ``settings`` (its bins and options), as a float.

    Raises:
        InputError: If ``name`` is not a registered metric, or needs inputs ``predictions`` lacks.
    """
    arrays = metric_arrays(predictions, name)
    return float(METRICS.get(name).function(*arrays, **settings.metric_kwargs(name)))


def summarize(
    predictions: Predictions,
    settings: MetricSettings = MetricSettings(),
    *,
    on_metric_done: Callable[[str], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> Summary:
    """Computes every applicable metric of :data:`~llmcal.metrics.METRICS` with a bootstrap interval.

    Metrics that need per-option probabilities are skipped for top-label-only predictions. Every metric
    is computed on the same resamples, from their counts (:mod:`llmcal.metrics.count_bootstrap`), and
    its interval follows :mod:`llmcal.metrics.bootstrap`'s convention (re-centred on the value, clipped
    to the metric's range). Point values are always on every item. Predictions of no items (a method that
    gave every answer no confidence) have every metric NaN and no reliability bins.

    Args:
        predictions: What to evaluate.
        settings: Binning and bootstrap settings.
        on_metric_done: Called with each metric's name when it is finished.
        on_progress: Called with (resamples done, resamples in all) as the resampling advances (progress
            bars: one resample serves every metric, so this moves while ``on_metric_done`` waits).

    Raises:
        InputError: If ``settings`` asks for a non-positive number of resamples or a level outside (0, 1).
    """
    results: list[MetricValue] = []
    if predictions.n_items == 0:
        nan = float("nan")
        for name in applicable_metrics(predictions):
            spec = METRICS.get(name)
            results.append(MetricValue(name, nan, nan, nan, spec.summary, settings.binning(name)))
        return Summary(predictions.source, 0, predictions.n_options, settings, results)
    names = applicable_metrics(predictions)
    estimates = {name: metric_value(predictions, name, settings) for name in names}
    resampled = resampled_metrics(predictions, names, settings, on_progress=on_progress)
    for name in names:
        spec = METRICS.get(name)
        groups = resampled[name]
        warn_if_undefined(sum(int(np.isnan(values).sum()) for values in groups), settings.n_resamples, 2)
        low, high = recentred_interval(estimates[name], groups, settings.level, spec.bounds)
        results.append(MetricValue(name, estimates[name], low, high, spec.summary, settings.binning(name)))
        if on_metric_done is not None:
            on_metric_done(name)
    bins = reliability_bins(
        predictions.confidences, predictions.correct, n_bins=settings.n_bins, strategy=settings.strategy
    )
    return Summary(predictions.source, predictions.n_items, predictions.n_options, settings, results, bins)


# calibration_row's fixed binning, written beside those rows in results files.
_ROW_SETTINGS = MetricSettings(n_bins=15, strategy="uniform")
CALIBRATION_ROW_BINNING = {name: _ROW_SETTINGS.binning(name) for name in ("ece", "sce")}


@dataclass(frozen=True)
class CalibrationRow:
    """The compact calibration of one set of option probabilities: point values, no intervals."""

    n_items: int
    accuracy: float
    ece: float
    sce: float
    brier: float
    mean_confidence: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: NaN (SCE and Brier of generated answers) becomes ``None``."""
        return {
            key: _none_if_nan(value) if isinstance(value, float) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationRow:
        """The row of its JSON form, every value checked to be a number (``None``: NaN).

        Raises:
            ValueError: If a value is not a number; KeyError: if one is missing.
        """
        numbers = {
            key: _nan_if_none(data[key]) for key in ("accuracy", "ece", "sce", "brier", "mean_confidence")
        }
        return cls(n_items=int(data["n_items"]), **numbers)


def calibration_row(
    probs: NDArray[np.float64], labels: NDArray[np.intp], option_mask: NDArray[np.bool_] | None = None
) -> CalibrationRow:
    """Accuracy, ECE, SCE, Brier and mean confidence of option probabilities, without intervals.

    The compact row of fine-tuning results and the demo table; :func:`summarize` gives every metric with
    bootstrap intervals. ECE and SCE use 15 equal-width bins (:data:`CALIBRATION_ROW_BINNING`).
    """
    confidences, correct = top_label_confidence(probs, labels)
    return _row(
        confidences,
        correct,
        sce_value=sce(probs, labels, option_mask, n_bins=_ROW_SETTINGS.n_bins),
        brier_value=brier(probs, labels, option_mask),
    )


def predictions_row(predictions: Predictions) -> CalibrationRow:
    """:func:`calibration_row` of predictions; SCE and Brier are NaN for top-label-only predictions."""
    if predictions.probs is not None and predictions.labels is not None:
        return calibration_row(predictions.probs, predictions.labels, predictions.option_mask)
    nan = float("nan")
    return _row(predictions.confidences, predictions.correct, sce_value=nan, brier_value=nan)


def _row(
    confidences: NDArray[np.float64], correct: NDArray[np.float64], *, sce_value: float, brier_value: float
) -> CalibrationRow:
    """The row's top-label values from the confidences, beside the option metrics given."""
    return CalibrationRow(
        n_items=len(confidences),
        accuracy=float(correct.mean()),
        ece=ece(confidences, correct, n_bins=_ROW_SETTINGS.n_bins),
        sce=sce_value,
        brier=brier_value,
        mean_confidence=float(confidences.mean()),
    )
