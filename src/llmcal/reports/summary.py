"""Every metric with a bootstrap interval for one set of predictions: the data behind ``llmcal metrics``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

__all__ = ["MetricValue", "Summary", "applicable_metrics", "calibration_row", "summarize"]


@dataclass(frozen=True)
class MetricValue:
    """One metric's value and percentile-bootstrap interval."""

    name: str
    value: float
    ci_low: float
    ci_high: float
    summary: str


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
        results.append(MetricValue(name, interval.estimate, interval.low, interval.high, summary))
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
            record(name, spec.summary, spec.function, predictions.probs, predictions.labels, **kwargs)
    settings = {
        "n_bins": n_bins,
        "strategy": strategy,
        "n_resamples": n_resamples,
        "level": level,
        "seed": seed,
    }
    bins = reliability_bins(predictions.confidences, predictions.correct, n_bins=n_bins, strategy=strategy)
    return Summary(predictions.source, predictions.n_items, predictions.n_options, settings, results, bins)


def calibration_row(probs: NDArray[np.float64], labels: NDArray[np.intp]) -> dict[str, float]:
    """Accuracy, ECE, SCE, Brier and mean confidence of option probabilities, without intervals.

    The compact row of fine-tuning reports and the demo table; :func:`summarize` gives every metric with
    bootstrap intervals.
    """
    confidences, correct = top_label_confidence(probs, labels)
    return {
        "n_items": len(labels),
        "accuracy": float(correct.mean()),
        "ece": ece(confidences, correct),
        "sce": sce(probs, labels),
        "brier": brier(probs, labels),
        "mean_confidence": float(confidences.mean()),
    }
