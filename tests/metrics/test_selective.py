"""Selective-prediction metrics (issue 29, item 3): against lm-polygraph, by hand and by their invariants."""

from __future__ import annotations

import itertools
import math
import os
import types
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from llmcal import CalibrationWarning, InputError
from llmcal.metrics import (
    auarc,
    aurc,
    eaurc,
    prr,
    risk_coverage_curve,
    selective_accuracy,
)
from tests.lm_polygraph_modules import polygraph_modules


@pytest.fixture(scope="module")
def polygraph():
    """lm-polygraph's ``ue_metrics`` (:mod:`tests.lm_polygraph_modules`)."""
    with polygraph_modules(
        "ue_metrics.pred_rej_area", "ue_metrics.risk_cov_curve", "ue_metrics.ue_metric"
    ) as (
        rejection,
        risk_coverage,
        base,
    ):
        yield types.SimpleNamespace(
            prr=rejection.PredictionRejectionArea(), rcc=risk_coverage.RiskCoverageCurveAUC(), base=base
        )


def _distinct_case(n, seed, accuracy=0.6, signal=1.5):
    """Distinct confidences with some signal about correctness (lm-polygraph breaks ties by position)."""
    rng = np.random.default_rng(seed)
    correct = (rng.uniform(size=n) < accuracy).astype(float)
    confidences = 1.0 / (1.0 + np.exp(-(signal * (correct - 0.5) + rng.normal(size=n))))
    assert len(np.unique(confidences)) == n
    return confidences, correct


@pytest.mark.parametrize(("n", "seed"), [(7, 0), (50, 1), (400, 2), (2000, 3)])
def test_aurc_and_auarc_equal_lm_polygraphs_rcc_auc_and_prr(polygraph, n, seed):
    confidences, correct = _distinct_case(n, seed)
    uncertainty = -confidences  # lm-polygraph ranks by uncertainty, the least uncertain first
    assert aurc(confidences, correct) == pytest.approx(polygraph.rcc(uncertainty, correct), abs=1e-12)
    assert auarc(confidences, correct) == pytest.approx(polygraph.prr(uncertainty, correct), abs=1e-12)


@pytest.mark.parametrize(("n", "seed", "accuracy"), [(60, 4, 0.5), (500, 5, 0.8), (500, 6, 0.2)])
def test_prr_equals_lm_polygraphs_prr_normalized(polygraph, n, seed, accuracy):
    """lm-polygraph's random baseline averages 1,000 shuffles; llmcal's is its exact expectation."""
    confidences, correct = _distinct_case(n, seed, accuracy)
    uncertainty = -confidences
    model = polygraph.prr(uncertainty, correct)
    oracle = polygraph.prr(-correct, correct)
    random = polygraph.base.get_random_scores(polygraph.prr, correct)
    theirs = polygraph.base.normalize_metric(model, oracle, random)
    assert random == pytest.approx(correct.mean(), abs=0.01)  # the expectation their shuffles estimate
    exact = polygraph.base.normalize_metric(model, oracle, correct.mean())
    assert prr(confidences, correct) == pytest.approx(exact, abs=1e-12)
    assert prr(confidences, correct) == pytest.approx(theirs, abs=0.03)


@pytest.mark.parametrize(("n", "seed"), [(1, 0), (7, 1), (30, 2), (401, 3)])
@pytest.mark.parametrize("coverage", [0.01, 0.5, 0.8, 0.9, 1.0])
def test_selective_accuracy_is_the_accuracy_of_the_most_confident_answers(n, seed, coverage):
    confidences, correct = _distinct_case(n, seed)
    kept = np.argsort(-confidences)[: max(1, math.ceil(round(coverage * n, 9)))]
    expected = correct[kept].mean()
    assert selective_accuracy(confidences, correct, coverage) == pytest.approx(expected, abs=1e-12)


def test_a_coverage_below_one_item_keeps_the_most_confident_item():
    assert selective_accuracy([0.9, 0.1], [1, 0], 0.01) == 1.0  # ceil(0.02) = 1 item
    assert selective_accuracy([0.9, 0.1], [1, 0], 1e-12) == 1.0  # rounds to 0 items: still 1


def test_small_case_by_hand():
    # Most confident first: right, wrong, right, wrong, wrong.
    confidences = [0.9, 0.8, 0.7, 0.6, 0.5]
    correct = [1, 0, 1, 0, 0]
    risks = [0 / 1, 1 / 2, 1 / 3, 2 / 4, 3 / 5]
    assert aurc(confidences, correct) == pytest.approx(sum(risks) / 5)
    assert auarc(confidences, correct) == pytest.approx(1 - sum(risks) / 5)
    best = [0, 0, 1 / 3, 2 / 4, 3 / 5]  # both right answers first
    assert eaurc(confidences, correct) == pytest.approx((sum(risks) - sum(best)) / 5)
    accuracy = 2 / 5
    expected_prr = (1 - sum(risks) / 5 - accuracy) / (1 - sum(best) / 5 - accuracy)
    assert prr(confidences, correct) == pytest.approx(expected_prr)
    assert selective_accuracy(confidences, correct, 0.5) == pytest.approx(2 / 3)  # ceil(2.5) = 3 kept
    assert selective_accuracy(confidences, correct, 0.4) == pytest.approx(1 / 2)
    assert selective_accuracy(confidences, correct, 1.0) == pytest.approx(accuracy)
    curve = risk_coverage_curve(confidences, correct)
    np.testing.assert_allclose(curve.coverage, [0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(curve.risk, risks)


def test_geifmans_continuous_optimum_is_close_to_the_exact_one_on_many_items():
    rng = np.random.default_rng(8)
    correct = (rng.uniform(size=20_000) < 0.7).astype(float)
    confidences = correct + rng.uniform(0.0, 0.5, size=correct.size)  # a perfect ranking
    risk = 1 - correct.mean()
    continuous = risk + (1 - risk) * math.log(1 - risk)
    assert aurc(confidences, correct) == pytest.approx(continuous, abs=1e-3)
    assert eaurc(confidences, correct) == pytest.approx(0.0, abs=1e-14)  # float rounding only


tied_samples = st.integers(2, 6).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, n, elements=st.sampled_from([0.2, 0.5, 0.8])),
        arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])),
    )
)


def _expected_over_tie_orders(confidences, correct, metric):
    """``metric`` on distinct scores, averaged over every way of ordering the tied items."""
    return float(np.mean([metric(distinct, correct) for distinct in _tie_orders(confidences)]))


@settings(max_examples=60, deadline=None)
@given(sample=tied_samples)
def test_tied_confidences_give_the_average_over_every_order_of_the_tied_items(sample):
    confidences, correct = sample
    for metric in (aurc, auarc, eaurc, lambda c, y: selective_accuracy(c, y, 0.5)):
        expected = _expected_over_tie_orders(confidences, correct, metric)
        assert metric(confidences, correct) == pytest.approx(expected, abs=1e-9)
    curve = risk_coverage_curve(confidences, correct).risk
    expected_curve = np.mean(
        [risk_coverage_curve(distinct, correct).risk for distinct in _tie_orders(confidences)], axis=0
    )
    np.testing.assert_allclose(curve, expected_curve, atol=1e-12)


def _tie_orders(confidences):
    """Distinct scores for each order of the items that sorts them most confident first."""
    n = len(confidences)
    for order in itertools.permutations(range(n)):
        if np.any(np.diff(confidences[list(order)]) > 0):
            continue
        distinct = np.empty(n)
        distinct[list(order)] = np.arange(n, 0, -1, dtype=float)
        yield distinct


top_label_samples = st.integers(2, 60).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, n, elements=st.floats(0.0, 1.0)),
        arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])),
    )
)


@settings(max_examples=100, deadline=None)
@given(sample=top_label_samples)
def test_invariants(sample):
    confidences, correct = sample
    assert auarc(confidences, correct) == pytest.approx(1.0 - aurc(confidences, correct), abs=1e-12)
    assert 0.0 <= eaurc(confidences, correct) <= aurc(confidences, correct) + 1e-12
    assert selective_accuracy(confidences, correct, 1.0) == pytest.approx(correct.mean())
    if 0 < correct.sum() < len(correct):
        oracle = correct + 0.5 * confidences  # every right answer above every wrong one
        assert prr(oracle, correct) == pytest.approx(1.0, abs=1e-9)
        assert eaurc(oracle, correct) == pytest.approx(0.0, abs=1e-12)
        assert prr(confidences, correct) <= 1.0 + 1e-9
        assert prr(-confidences, correct) <= 1.0 + 1e-9
    # Only the order counts: a strictly increasing map of the scores (scaling by a power of two is exact
    # in floating point) leaves every value as it was, however far outside [0, 1] it takes them.
    assert aurc(confidences * 1024.0, correct) == pytest.approx(aurc(confidences, correct), abs=1e-12)


def test_random_rejection_averages_to_prr_zero():
    """Over every ordering of the items, the expected AUARC is the accuracy: PRR averages to 0 exactly."""
    correct = np.array([1, 0, 1, 1, 0, 0], dtype=float)
    values = [prr(np.array(order, dtype=float), correct) for order in itertools.permutations(range(6))]
    assert np.mean(values) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(9)
    many = (rng.uniform(size=5000) < 0.6).astype(float)
    assert prr(rng.uniform(size=5000), many) == pytest.approx(0.0, abs=0.05)


def test_prr_is_nan_with_a_warning_when_every_answer_is_alike():
    with pytest.warns(CalibrationWarning, match="PRR is undefined") as caught:
        assert math.isnan(prr([0.2, 0.9], [1, 1]))
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampoline adds a frame between them
        assert caught[0].filename == __file__  # the warning points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert aurc([0.2, 0.9], [1, 1]) == 0.0
        assert aurc([0.2, 0.9], [0, 0]) == 1.0


@pytest.mark.parametrize(
    ("confidences", "correct", "coverage", "message"),
    [
        ([0.5, float("nan")], [1, 0], 0.5, "NaN or infinite"),
        ([], [], 0.5, "empty"),
        ([0.5, 0.4], [1, 2], 0.5, "0/1"),
        ([0.5, 0.4], [1], 0.5, "aligned"),
        ([0.5, 0.4], [1, 0], 0.0, "coverage"),
        ([0.5, 0.4], [1, 0], 1.5, "coverage"),
        ([0.5, 0.4], [1, 0], True, "coverage"),
    ],
)
def test_bad_input_is_refused_naming_it(confidences, correct, coverage, message):
    with pytest.raises(InputError, match=message):
        selective_accuracy(confidences, correct, coverage)


def test_scores_outside_zero_one_are_ranked_like_any_other():
    entropy = np.array([0.1, 2.3, 0.7, 1.9])
    correct = np.array([1, 0, 1, 0])
    assert prr(-entropy, correct) == pytest.approx(1.0)
