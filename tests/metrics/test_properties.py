"""Invariants every metric must satisfy, checked with Hypothesis over the whole metric catalogue."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from llmcal import CalibrationWarning
from llmcal.metrics import METRICS, auroc, ece, mce, reliability_bins, rms_ce, top_label_confidence

TOP_LABEL = [name for name in METRICS if METRICS.get(name).inputs == "top_label"]
PROBABILITY = [name for name in METRICS if METRICS.get(name).inputs == "probabilities"]
CALIBRATION_ERRORS = ["ece", "mce", "rms_ce", "smooth_ece", "sce", "ace"]
RANGES = {"brier": (0.0, 2.0), "nll": (0.0, math.inf)}

unit_floats = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def top_label_samples(draw):
    n_items = draw(st.integers(1, 60))
    confidences = draw(arrays(np.float64, n_items, elements=unit_floats))
    correct = draw(arrays(np.bool_, n_items))
    return confidences, correct.astype(float)


@st.composite
def probability_samples(draw):
    n_items = draw(st.integers(1, 40))
    n_options = draw(st.integers(2, 5))
    weights = draw(arrays(np.float64, (n_items, n_options), elements=st.floats(0.0, 10.0)))
    weights[:, 0] += 1e-3  # keep every row normalisable
    labels = draw(arrays(np.int64, n_items, elements=st.integers(0, n_options - 1)))
    return weights / weights.sum(axis=1, keepdims=True), labels


def call(name, arrays_, **kwargs):
    return METRICS.get(name).function(*arrays_, **kwargs)


# Metrics of how confidence ranks right against wrong answers: undefined when all are right or all wrong.
UNDEFINED_WITHOUT_BOTH = {"auroc": "AUROC is undefined", "prr": "PRR is undefined"}


def value_or_nan(name, arrays_):
    if name in UNDEFINED_WITHOUT_BOTH and len(set(arrays_[1].tolist())) < 2:
        with pytest.warns(CalibrationWarning, match=UNDEFINED_WITHOUT_BOTH[name]):
            return call(name, arrays_)
    return call(name, arrays_)


@pytest.mark.parametrize("name", TOP_LABEL)
@settings(max_examples=60, deadline=None)
@given(sample=top_label_samples(), data=st.data())
def test_top_label_metrics_ignore_item_order(name, sample, data):
    permutation = data.draw(st.permutations(range(len(sample[0]))))
    shuffled = tuple(array[list(permutation)] for array in sample)
    assert value_or_nan(name, shuffled) == pytest.approx(value_or_nan(name, sample), abs=1e-9, nan_ok=True)


@pytest.mark.parametrize("name", PROBABILITY)
@settings(max_examples=60, deadline=None)
@given(sample=probability_samples(), data=st.data())
def test_probability_metrics_ignore_item_order(name, sample, data):
    permutation = list(data.draw(st.permutations(range(len(sample[1])))))
    shuffled = (sample[0][permutation], sample[1][permutation])
    assert call(name, shuffled) == pytest.approx(call(name, sample), abs=1e-9)


@pytest.mark.parametrize("name", TOP_LABEL)
@settings(max_examples=60, deadline=None)
@given(sample=top_label_samples())
def test_top_label_metrics_stay_in_range(name, sample):
    value = value_or_nan(name, sample)
    if name in UNDEFINED_WITHOUT_BOTH and len(set(sample[1])) < 2:
        assert math.isnan(value)
    else:
        low, high = METRICS.get(name).bounds
        assert low - 1e-12 <= value <= high + 1e-12


@pytest.mark.parametrize("name", PROBABILITY)
@settings(max_examples=60, deadline=None)
@given(sample=probability_samples())
def test_probability_metrics_stay_in_range(name, sample):
    low, high = RANGES.get(name, (0.0, 1.0))
    assert low <= call(name, sample) <= high + 1e-12


@st.composite
def perfectly_calibrated_groups(draw):
    """Groups of items sharing one probability vector whose label counts match it exactly.

    Every (bin, class) cell then has zero net residual, whatever the binning, so every calibration
    error must be 0 (up to rounding).
    """
    n_options = draw(st.integers(2, 4))
    n_groups = draw(st.integers(1, 6))
    probs, labels = [], []
    for _ in range(n_groups):
        group_size = draw(st.integers(1, 12))
        counts = draw(st.lists(st.integers(0, group_size), min_size=n_options, max_size=n_options))
        if sum(counts) == 0:
            counts[0] = 1
        total = sum(counts)
        vector = np.array(counts, dtype=float) / total
        for option, count in enumerate(counts):
            probs.extend([vector] * count)
            labels.extend([option] * count)
    return np.array(probs), np.array(labels)


@pytest.mark.parametrize("name", CALIBRATION_ERRORS)
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@settings(max_examples=60, deadline=None)
@given(sample=perfectly_calibrated_groups())
def test_perfect_calibration_scores_zero(name, strategy, sample):
    probs, labels = sample
    spec = METRICS.get(name)
    kwargs = {"strategy": strategy} if spec.binned and spec.inputs == "top_label" else {}
    if spec.inputs == "top_label":
        # Top-label calibration needs accuracy = confidence per confidence level: one item per group
        # member, confidence = group accuracy.
        confidences, correct = top_label_confidence(probs, labels)
        level = np.unique(confidences, return_inverse=True)[1]
        group_accuracy = np.bincount(level, weights=correct) / np.bincount(level)
        value = spec.function(group_accuracy[level], correct, **kwargs)
    else:
        value = spec.function(probs, labels, **kwargs)
    assert value == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(sample=top_label_samples(), strategy=st.sampled_from(["uniform", "quantile"]))
def test_single_bin_errors_are_the_overall_gap(sample, strategy):
    confidences, correct = sample
    gap = abs(confidences.mean() - correct.mean())
    for function in (ece, mce, rms_ce):
        assert function(confidences, correct, n_bins=1, strategy=strategy) == pytest.approx(gap, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(
    sample=top_label_samples(),
    n_bins=st.integers(1, 40),
    strategy=st.sampled_from(["uniform", "quantile"]),
)
def test_bin_counts_sum_to_n_and_errors_are_ordered(sample, n_bins, strategy):
    confidences, correct = sample
    bins = reliability_bins(confidences, correct, n_bins=n_bins, strategy=strategy)
    assert bins.counts.sum() == len(confidences)
    assert len(bins.edges) == n_bins + 1
    assert np.all(np.diff(bins.edges) >= 0)
    # L1 <= L2 <= max over bins (Jensen, then a mean below its maximum).
    kwargs = {"n_bins": n_bins, "strategy": strategy}
    assert ece(confidences, correct, **kwargs) <= rms_ce(confidences, correct, **kwargs) + 1e-12
    assert rms_ce(confidences, correct, **kwargs) <= mce(confidences, correct, **kwargs) + 1e-12


@settings(max_examples=60, deadline=None)
@given(sample=probability_samples())
def test_one_hot_on_the_gold_answer_has_zero_loss(sample):
    _, labels = sample
    one_hot = np.zeros((len(labels), int(labels.max()) + 2))
    one_hot[np.arange(len(labels)), labels] = 1.0
    assert METRICS.get("brier").function(one_hot, labels) == 0.0
    assert METRICS.get("nll").function(one_hot, labels) == pytest.approx(0.0, abs=1e-12)


def test_auroc_is_one_for_perfect_separation_and_half_for_none():
    assert auroc([0.9, 0.8, 0.4, 0.3], [1, 1, 0, 0]) == 1.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.5
