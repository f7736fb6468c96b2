"""The recentred percentile bootstrap: its intervals, its defaults, its checks and warnings."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from llmcal import CalibrationWarning, InputError
from llmcal.metrics import auroc, bootstrap_ci, brier, ece


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


def _reference_recentred_bootstrap(metric, arrays, n_resamples, level, seed, **kwargs):
    """The percentile bootstrap by its definition (Efron & Tibshirani ch. 13), drawing as llmcal does, with
    its spread around the bootstrap median placed around the estimate (llmcal.metrics.bootstrap)."""
    generator = np.random.default_rng(seed)
    n = len(arrays[0])
    values = []
    for _ in range(n_resamples):
        rows = generator.integers(0, n, size=n)
        values.append(metric(*(np.asarray(a)[rows] for a in arrays), **kwargs))
    low, median, high = np.quantile(values, [(1 - level) / 2, 0.5, (1 + level) / 2])
    estimate = metric(*arrays, **kwargs)
    return estimate - (median - low), estimate + (high - median)


def test_bootstrap_is_the_recentred_percentile_bootstrap_with_the_documented_defaults():
    rng = np.random.default_rng(11)
    confidences = rng.uniform(0.2, 1.0, 300)
    correct = (rng.uniform(size=300) < confidences**1.5).astype(float)
    low, high = _reference_recentred_bootstrap(ece, (confidences, correct), 1000, 0.95, 0, n_bins=10)
    interval = bootstrap_ci(ece, confidences, correct, n_bins=10)  # defaults: 1000 resamples, 95%, seed 0
    assert (interval.low, interval.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert interval.estimate == ece(confidences, correct, n_bins=10)
    assert interval.level == 0.95
    narrow = bootstrap_ci(ece, confidences, correct, n_resamples=200, level=0.5, rng=3)
    reference = _reference_recentred_bootstrap(ece, (confidences, correct), 200, 0.5, 3)
    assert [narrow.low, narrow.high] == pytest.approx(list(reference), abs=1e-12)
    single = bootstrap_ci(ece, confidences, correct, n_resamples=1)  # one resample is allowed
    assert single.low == single.high == single.estimate


def test_bootstrap_checks_its_options_word_for_word():
    cases = [
        ({"n_resamples": 0}, "`n_resamples` must be a positive integer; got 0."),
        ({"n_resamples": True}, "`n_resamples` must be a positive integer; got True."),
        ({"n_resamples": 2.5}, "`n_resamples` must be a positive integer; got 2.5."),
        ({"level": 0.0}, "`level` must be in (0, 1); got 0.0."),
        ({"level": 1.0}, "`level` must be in (0, 1); got 1.0."),
    ]
    for options, message in cases:
        with pytest.raises(InputError) as error:
            bootstrap_ci(ece, [0.5], [1], **options)
        assert str(error.value) == message
    with pytest.raises(InputError) as error:
        bootstrap_ci(ece)
    assert str(error.value) == "bootstrap_ci needs at least one array to resample."


def _undefined_on(calls_to_fail):
    calls = {"n": 0}

    def metric(values):
        calls["n"] += 1
        return float("nan") if calls["n"] - 1 in calls_to_fail else float(np.mean(values))

    return metric


def test_bootstrap_warns_once_more_than_one_percent_of_resamples_are_undefined():
    values = np.arange(10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bootstrap_ci(_undefined_on({5}), values, n_resamples=100)  # 1 of 100: no warning
    with pytest.warns(CalibrationWarning) as caught:
        interval = bootstrap_ci(_undefined_on({5, 9}), values, n_resamples=100)
    assert str(caught[0].message) == (
        "2 of 100 bootstrap resamples gave an undefined metric and were dropped; the interval may be too "
        "narrow."
    )
    assert interval.low <= interval.high
    # Every resample undefined: the estimate stays, the interval is NaN.
    with pytest.warns(CalibrationWarning):
        empty = bootstrap_ci(_undefined_on(set(range(1, 12))), values, n_resamples=10, level=0.9)
    assert empty.estimate == pytest.approx(4.5)
    assert math.isnan(empty.low)
    assert math.isnan(empty.high)
    assert empty.level == 0.9


def test_bootstrap_silences_only_calibration_warnings_inside_resamples():
    def noisy(values):
        warnings.warn("something else", UserWarning, stacklevel=1)
        return float(np.mean(values))

    with pytest.warns(UserWarning, match="something else"):
        bootstrap_ci(noisy, np.arange(5.0), n_resamples=3)
