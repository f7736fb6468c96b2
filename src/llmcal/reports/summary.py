"""Every metric with a bootstrap interval for one set of predictions: the data behind ``llmcal metrics``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.metrics import (
    METRICS,
    BinStrategy,
    bootstrap_ci,
    brier,
    ece,
    reliability_bins,
    sce,
    top_label_confidence,
)
from llmcal.metrics.binning import ReliabilityBins
from llmcal.predictions import Predictions

__all__ = [
    "CALIBRATION_ROW_BINNING",
    "MetricValue",
    "Summary",
    "applicable_metrics",
    "calibration_row",
    "metric_binning",
    "summarize",
]


@dataclass(frozen=True)
class MetricValue:
    """One metric's value and percentile-bootstrap interval.

    Attributes:
        binning: How a binned metric was binned (``n_bins``, ``strategy``); empty for the others.
    """

    name: str
    value: float
    ci_low: float
    ci_high: float
    summary: str
    binning: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Summary:
    """All metrics for one set of predictions, with the settings that produced them."""

    source: str
    n_items: int
    n_options: int | None
    settings: dict[str, Any]
    metrics: list[MetricValue]
    reliability: ReliabilityBins

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (NaN becomes ``None``)."""

        def clean(value: float) -> float | None:
            return None if np.isnan(value) else value

        return {
            "source": self.source,
            "n_items": self.n_items,
            "n_options": self.n_options,
            "settings": self.settings,
            "metrics": {
                metric.name: {
                    "value": clean(metric.value),
                    "ci_low": clean(metric.ci_low),
                    "ci_high": clean(metric.ci_high),
                    "summary": metric.summary,
                    **metric.binning,
                }
                for metric in self.metrics
            },
            "reliability": self.reliability.to_rows(),
        }


def applicable_metrics(predictions: Predictions) -> list[str]:
    """Names of the catalogue metrics these predictions support (all, or the top-label ones only)."""
    has_probs = predictions.probs is not None
    return [name for name in METRICS if has_probs or METRICS.get(name).inputs == "top_label"]


def _accuracy(correct: NDArray[np.float64]) -> float:
    return float(np.mean(correct))


def summarize(
    predictions: Predictions,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    on_metric_done: Callable[[str], None] | None = None,
) -> Summary:
    """Computes accuracy and every applicable metric in :data:`~llmcal.metrics.METRICS` with intervals.

    Metrics that need per-option probabilities are skipped for top-label-only predictions. Every metric
    is bootstrapped with the same seed, hence on the same resamples.

    Args:
        predictions: What to evaluate.
        n_bins: Bins for the binned metrics.
        strategy: Binning strategy of the top-label binned metrics (class-wise ones have their own).
        n_resamples: Bootstrap resamples per metric.
        level: Interval coverage.
        seed: Bootstrap seed.
        on_metric_done: Called with each metric's name when it is finished (for progress bars).
    """
    results: list[MetricValue] = []

    def record(name: str, summary: str, function: Callable[..., float], *arrays: Any, **kwargs: Any) -> None:
        interval = bootstrap_ci(function, *arrays, n_resamples=n_resamples, level=level, rng=seed, **kwargs)
        binning = metric_binning(name, n_bins=n_bins, strategy=strategy)
        results.append(MetricValue(name, interval.estimate, interval.low, interval.high, summary, binning))
        if on_metric_done is not None:
            on_metric_done(name)

    record("accuracy", "fraction of items answered right", _accuracy, predictions.correct)
    for name in applicable_metrics(predictions):
        spec = METRICS.get(name)
        kwargs: dict[str, Any] = {}
        if spec.binned:
            kwargs["n_bins"] = n_bins
            if spec.inputs == "top_label":
                kwargs["strategy"] = strategy
        if spec.inputs == "top_label":
            record(name, spec.summary, spec.function, predictions.confidences, predictions.correct, **kwargs)
        else:
            assert predictions.probs is not None  # applicable_metrics leaves these out otherwise
            mask = predictions.option_mask
            if mask is None:  # the bootstrap resamples the mask with the rows, so it is always passed
                mask = np.ones(predictions.probs.shape, dtype=np.bool_)
            record(name, spec.summary, spec.function, predictions.probs, predictions.labels, mask, **kwargs)
    settings = {
        "n_bins": n_bins,
        "strategy": strategy,
        "n_resamples": n_resamples,
        "level": level,
        "seed": seed,
    }
    bins = reliability_bins(predictions.confidences, predictions.correct, n_bins=n_bins, strategy=strategy)
    return Summary(predictions.source, predictions.n_items, predictions.n_options, settings, results, bins)


def metric_binning(name: str, *, n_bins: int, strategy: BinStrategy) -> dict[str, Any]:
    """How metric ``name`` bins: ``n_bins`` and ``strategy`` for a binned metric, ``{}`` for the others.

    The class-wise metrics have a fixed strategy (SCE equal-width, ACE equal-mass); ``strategy`` applies to
    the top-label ones.

    Examples:
        >>> metric_binning("sce", n_bins=10, strategy="quantile")
        {'n_bins': 10, 'strategy': 'uniform'}
        >>> metric_binning("brier", n_bins=10, strategy="uniform")
        {}
    """
    if name not in METRICS or not METRICS.get(name).binned:
        return {}
    fixed = {"sce": "uniform", "ace": "quantile"}
    return {"n_bins": n_bins, "strategy": fixed.get(name, strategy)}


# The binning of calibration_row's ECE and SCE, written beside those rows in results files.
CALIBRATION_ROW_BINNING = {
    name: metric_binning(name, n_bins=15, strategy="uniform") for name in ("ece", "sce")
}


def calibration_row(
    probs: NDArray[np.float64], labels: NDArray[np.intp], option_mask: NDArray[np.bool_] | None = None
) -> dict[str, float]:
    """Accuracy, ECE, SCE, Brier and mean confidence of option probabilities, without intervals.

    The compact row of fine-tuning reports and the demo table; :func:`summarize` gives every metric with
    bootstrap intervals. ECE and SCE use 15 equal-width bins (:data:`CALIBRATION_ROW_BINNING`).
    """
    confidences, correct = top_label_confidence(probs, labels)
    return {
        "n_items": len(labels),
        "accuracy": float(correct.mean()),
        "ece": ece(confidences, correct, n_bins=15),
        "sce": sce(probs, labels, option_mask, n_bins=15),
        "brier": brier(probs, labels, option_mask),
        "mean_confidence": float(confidences.mean()),
    }
