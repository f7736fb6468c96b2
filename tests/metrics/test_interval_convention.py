"""The interval convention (issue 26, item 8): every interval holds its own estimate.

Calibration errors are biased upward under resampling, so a plain percentile interval can sit wholly above
the estimate; llmcal re-centres the percentile interval on the estimate (``llmcal.metrics.bootstrap``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from llmcal import CalibrationWarning
from llmcal.metrics import (
    METRICS,
    MetricSettings,
    Predictions,
    accuracy,
    bootstrap_ci,
    metric_changes,
    smooth_ece,
    summarize,
)


def _resampled_values(metric, arrays_, n_resamples, seed):
    """The metric on each resample, drawing rows exactly as ``bootstrap_ci`` does."""
    generator = np.random.default_rng(seed)
    n_items = len(arrays_[0])
    values = []
    for _ in range(n_resamples):
        rows = generator.integers(0, n_items, size=n_items)
        values.append(metric(*(np.asarray(array)[rows] for array in arrays_)))
    return np.array(values)


def _calibrated_sample(n_items, seed):
    rng = np.random.default_rng(seed)
    confidences = rng.uniform(0.5, 1.0, n_items)
    return confidences, (rng.uniform(size=n_items) < confidences).astype(float)


def test_a_skewed_metrics_interval_holds_its_estimate_where_the_plain_percentile_interval_did_not():
    confidences, correct = _calibrated_sample(2000, seed=0)
    estimate = smooth_ece(confidences, correct)
    values = _resampled_values(smooth_ece, (confidences, correct), 200, seed=0)
    plain_low, plain_high = np.quantile(values, [0.025, 0.975])
    assert estimate < plain_low  # the old interval: entirely above its own estimate (0.0176 [0.0182, 0.0300])

    interval = bootstrap_ci(smooth_ece, confidences, correct, n_resamples=200, rng=0)
    assert interval.low <= interval.estimate == estimate <= interval.high
    # Re-centred, not rebuilt: the spread on each side of the bootstrap median moves onto the estimate.
    median = np.median(values)
    assert interval.low == pytest.approx(estimate - (median - plain_low), abs=1e-12)
    assert interval.high == pytest.approx(estimate + (plain_high - median), abs=1e-12)

    summary = summarize(Predictions(confidences, correct, None, None, "x"), MetricSettings(n_resamples=200))
    value = summary.metric("smooth_ece")
    assert value.ci_low <= value.value <= value.ci_high


def test_an_unbiased_metrics_interval_stays_the_percentile_interval():
    # Accuracy is a mean: its bootstrap distribution is centred on the estimate, so re-centring moves the
    # ends by |median - estimate|, Monte-Carlo noise far inside the interval's width.
    correct = (np.random.default_rng(5).uniform(size=50_000) < 0.7).astype(float)
    confidences = np.full(50_000, 0.7)
    values = _resampled_values(accuracy, (confidences, correct), 1000, seed=0)
    plain_low, plain_high = np.quantile(values, [0.025, 0.975])
    interval = bootstrap_ci(accuracy, confidences, correct)
    width = plain_high - plain_low
    assert abs(interval.low - plain_low) < 0.05 * width
    assert abs(interval.high - plain_high) < 0.05 * width
    assert interval.high - interval.low == pytest.approx(width, rel=1e-9)


def test_intervals_are_clipped_to_the_metrics_range_without_losing_the_estimate():
    # Three items: the spread below the bootstrap median is wider than the ECE itself, so the re-centred
    # low end would fall below 0; a calibration error cannot.
    interval = bootstrap_ci(
        METRICS.get("ece").function,
        [0.9, 0.55, 0.6],
        [1, 1, 0],
        n_resamples=200,
        bounds=METRICS.get("ece").bounds,
    )
    assert interval.low == 0.0 <= interval.estimate <= interval.high <= 1.0
    assert METRICS.get("nll").bounds == (0.0, math.inf)
    assert METRICS.get("brier").bounds == (0.0, 2.0)
    for name in METRICS:
        low, high = METRICS.get(name).bounds
        assert low < high, name


@st.composite
def _predictions(draw):
    n_items = draw(st.integers(1, 30))
    n_options = draw(st.integers(2, 4))
    weights = draw(arrays(np.float64, (n_items, n_options), elements=st.floats(0.0, 10.0)))
    weights[:, 0] += 1e-3  # every row normalisable
    if draw(st.booleans()):  # ties: confidences on a coarse grid, as verbalised confidences are
        weights = np.round(weights)
        weights[:, 0] += 1.0
    labels = draw(arrays(np.int64, n_items, elements=st.integers(0, n_options - 1)))
    probs = weights / weights.sum(axis=1, keepdims=True)
    return Predictions.from_probabilities(probs, labels, "hypothesis")


def _holds(value, low, high):
    return not all(math.isfinite(x) for x in (value, low, high)) or low <= value <= high


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(predictions=_predictions(), seed=st.integers(0, 3), level=st.sampled_from([0.5, 0.9, 0.95]))
def test_every_metric_value_lies_inside_its_interval(predictions, seed, level):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # AUROC of one-class resamples
        summary = summarize(predictions, MetricSettings(n_bins=5, n_resamples=30, seed=seed, level=level))
    for metric in summary.metrics:
        assert _holds(metric.value, metric.ci_low, metric.ci_high), metric
        low, high = METRICS.get(metric.name).bounds
        if math.isfinite(metric.ci_low):
            # Inside the metric's range, unless rounding put the value itself an ulp outside it (a smooth
            # ECE of 1.0000000000000002): the interval holds the value first.
            assert min(low, metric.value) <= metric.ci_low, metric
            assert metric.ci_high <= max(high, metric.value), metric


@settings(max_examples=40, deadline=None)
@given(base=_predictions(), data=st.data())
def test_every_change_lies_inside_its_paired_interval(base, data):
    weights = data.draw(arrays(np.float64, base.probs.shape, elements=st.floats(0.01, 10.0)))
    aligned = Predictions.from_probabilities(weights / weights.sum(axis=1, keepdims=True), base.labels, "b")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        changes = metric_changes(base, aligned, list(METRICS), MetricSettings(n_bins=5, n_resamples=30))
    for change in changes:
        assert _holds(change.delta, change.delta_low, change.delta_high), change
