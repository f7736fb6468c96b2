from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from llmcal import CalibrationWarning
from llmcal.metrics import auroc, bootstrap_ci, brier, change, change_rate, ece


def test_interval_contains_the_estimate_and_is_reproducible(overconfident_run):
    _, probs, labels = overconfident_run
    first = bootstrap_ci(brier, probs, labels, n_resamples=200, rng=5)
    second = bootstrap_ci(brier, probs, labels, n_resamples=200, rng=5)
    assert first == second
    assert first.low < first.estimate < first.high
    assert first.estimate == brier(probs, labels)
    assert first.level == 0.95


def test_interval_narrows_with_more_items():
    rng = np.random.default_rng(0)
    widths = []
    for n_items in (200, 5000):
        confidences = rng.uniform(0.5, 1.0, size=n_items)
        correct = (rng.uniform(size=n_items) < confidences - 0.1).astype(float)
        interval = bootstrap_ci(ece, confidences, correct, n_resamples=300)
        widths.append(interval.high - interval.low)
    assert widths[1] < widths[0] / 3  # ~sqrt(25) = 5x narrower in theory


def test_interval_covers_the_truth_most_of_the_time():
    # Accuracy of a Bernoulli(0.7) sample: the 90% interval should cover 0.7 in roughly 90% of trials.
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(100):
        correct = (rng.uniform(size=300) < 0.7).astype(float)
        interval = bootstrap_ci(lambda y: float(np.mean(y)), correct, n_resamples=300, level=0.9, rng=trial)
        covered += interval.low <= 0.7 <= interval.high
    assert 80 <= covered <= 98


def test_degenerate_resamples_are_dropped_with_a_warning():
    confidences = np.r_[np.full(19, 0.9), 0.2]
    correct = np.r_[np.ones(19), 0.0]
    with pytest.warns(CalibrationWarning, match="resamples gave an undefined metric"):
        interval = bootstrap_ci(auroc, confidences, correct, n_resamples=200)
    assert interval.low <= interval.high


def test_change_and_change_rate():
    assert change(0.05, 0.12) == pytest.approx(0.07)
    assert change_rate(0.05, 0.12) == pytest.approx(1.4)
    assert change_rate(0.2, 0.1) == pytest.approx(-0.5)
    with pytest.warns(CalibrationWarning, match="undefined"):
        assert np.isnan(change_rate(0.0, 0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        change(0.0, 0.1)  # the absolute change is always defined


def test_change_rate_is_undefined_when_either_value_is_nan_and_warns_at_the_caller():
    from llmcal.metrics import change_rate

    for base, other in ((0.0, 0.2), (float("nan"), 0.2), (0.2, float("nan"))):
        with pytest.warns(CalibrationWarning, match="change rate is undefined") as caught:
            assert math.isnan(change_rate(base, other))
        # stacklevel points past change_rate, at whoever called it (mutation testing adds a frame between).
        assert not caught[0].filename.endswith("comparison.py")
    assert change_rate(0.2, 0.3) == pytest.approx(0.5)


def test_reliability_rows_keep_the_values_of_filled_bins():
    from llmcal.metrics import reliability_bins

    rows = reliability_bins([0.15, 0.25, 0.95], [1, 0, 1], n_bins=2).to_rows()
    assert rows[0]["count"] == 2
    assert rows[0]["mean_confidence"] == pytest.approx(0.2)
    assert rows[0]["accuracy"] == pytest.approx(0.5)
    assert rows[1]["accuracy"] == 1.0
    empty = reliability_bins([0.15], [1], n_bins=2).to_rows()[1]
    assert empty["mean_confidence"] is None
    assert empty["accuracy"] is None
