"""Hand-computed values and the exact bin conventions of docs/papers.md ("Bin edges")."""

from __future__ import annotations

import numpy as np
import pytest

from llmcal.errors import InputError
from llmcal.metrics import (
    ace,
    brier,
    ece,
    mce,
    nll,
    reliability_bins,
    rms_ce,
    sce,
    smooth_ece,
    smooth_ece_bandwidth,
)


def test_ece_mce_rms_on_a_hand_computed_case():
    # Four items, each alone in a 10-bin histogram: gaps 0.05, 0.85, 0.35, 0.45.
    confidences, correct = [0.95, 0.85, 0.65, 0.55], [1, 0, 1, 1]
    assert ece(confidences, correct, n_bins=10) == pytest.approx(1.7 / 4)
    assert mce(confidences, correct, n_bins=10) == pytest.approx(0.85)
    assert rms_ce(confidences, correct, n_bins=10) == pytest.approx(
        np.sqrt((0.05**2 + 0.85**2 + 0.35**2 + 0.45**2) / 4)
    )


def test_bins_are_right_closed_and_zero_goes_to_the_first_bin():
    bins = reliability_bins([0.0, 0.2, 0.2000001, 1.0], [1, 1, 0, 0], n_bins=5)
    # 0.0 and 0.2 fall in (0, 0.2] (0.0 by the first-bin rule); 0.2000001 in (0.2, 0.4]; 1.0 in (0.8, 1].
    assert bins.counts.tolist() == [2, 1, 0, 0, 1]
    assert bins.accuracy[0] == 1.0
    assert bins.accuracy[1] == 0.0
    assert np.isnan(bins.accuracy[2])
    assert np.isnan(bins.mean_confidence[3])
    rows = bins.to_rows()
    assert rows[2] == {
        "bin": 2,
        "lower": 0.4,
        "upper": pytest.approx(0.6),
        "count": 0,
        "mean_confidence": None,
        "accuracy": None,
    }


def test_quantile_bins_hold_equal_mass():
    confidences = np.linspace(0.3, 0.99, 1000)
    bins = reliability_bins(confidences, np.ones(1000), n_bins=10, strategy="quantile")
    assert bins.counts.min() >= 99
    assert bins.counts.max() <= 101
    assert bins.edges[0] == pytest.approx(0.3)
    assert bins.edges[-1] == pytest.approx(0.99)


def test_sce_averages_class_wise_errors():
    probs = [[0.8, 0.2], [0.3, 0.7]]
    # class 0: |1 - 0.8| + |1 - 0.3| ; class 1: |0 - 0.2| + |0 - 0.7|; divided by n * K = 4.
    assert sce(probs, [0, 0], n_bins=10) == pytest.approx(1.8 / 4)
    # One bin per class: class 0 holds both items, net residual (1 + 1) - (0.8 + 0.3) = 0.9.
    assert sce(probs, [0, 0], n_bins=1) == pytest.approx((0.9 + 0.9) / 4)


def test_sce_with_ragged_option_counts_measures_each_class_over_the_items_that_have_it():
    # Items 0-1 have 2 options, item 2 has 3. Class 2 exists only for item 2.
    probs = [[0.8, 0.2, 0.0], [0.4, 0.6, 0.0], [0.1, 0.3, 0.6]]
    labels = [0, 0, 2]
    mask = [[True, True, False], [True, True, False], [True, True, True]]
    # 10 bins, every value in its own bin: class 0 residuals 0.2, 0.6, -0.1 over 3 items; class 1
    # -0.2, -0.6, -0.3 over 3; class 2: 0.4 over its 1 item. Classes weigh by their item counts.
    expected = ((0.2 + 0.6 + 0.1) + (0.2 + 0.6 + 0.3) + 0.4) / (3 + 3 + 1)
    assert sce(probs, labels, mask, n_bins=10) == pytest.approx(expected)
    # Read as 3 options everywhere, the padded zeros would count as calibrated class-2 predictions.
    assert sce(probs, labels, n_bins=10) == pytest.approx((0.9 + 1.1 + 0.4) / 9)


def test_sce_and_ace_ignore_a_padding_column():
    rng = np.random.default_rng(4)
    probs = rng.dirichlet([1, 1, 1, 1], size=400)
    labels = rng.integers(0, 4, size=400)
    padded = np.hstack([probs, np.zeros((400, 1))])
    mask = np.hstack([np.ones((400, 4), bool), np.zeros((400, 1), bool)])
    for metric in (sce, ace):
        assert metric(padded, labels, mask, n_bins=10) == pytest.approx(metric(probs, labels, n_bins=10))
    # One 5-option item among 4-option ones changes SCE by that item's share, not by a factor 4/5.
    padded[0] = [0.2, 0.2, 0.2, 0.2, 0.2]
    mask[0, 4] = True
    labels[0] = 4
    four_options = sce(probs[1:], labels[1:], n_bins=10)
    assert sce(padded, labels, mask, n_bins=10) == pytest.approx(four_options, rel=0.05)
    assert sce(padded, labels, n_bins=10) == pytest.approx(0.8 * four_options, rel=0.05)  # the old bias


def test_option_mask_must_match_zero_padding_and_gold():
    with pytest.raises(InputError, match="padded options must have probability 0"):
        sce([[0.5, 0.5]], [0], [[True, False]])
    with pytest.raises(InputError, match="marks as padding"):
        brier([[1.0, 0.0]], [1], [[True, False]])
    with pytest.raises(InputError, match="shape of the probabilities"):
        nll([[1.0, 0.0]], [0], [[True]])


def test_ace_uses_equal_mass_bins_per_class():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], size=900)
    labels = rng.integers(0, 3, size=900)
    # With 1 bin, ACE and SCE agree (one bin per class either way).
    assert ace(probs, labels, n_bins=1) == pytest.approx(sce(probs, labels, n_bins=1))
    assert ace(probs, labels, n_bins=10) != pytest.approx(sce(probs, labels, n_bins=10))


def test_brier_and_nll_known_values():
    assert brier([[0.8, 0.2], [0.3, 0.7]], [0, 1]) == pytest.approx(0.13)
    assert nll([[0.5, 0.5], [0.9, 0.1]], [0, 0]) == pytest.approx(-(np.log(0.5) + np.log(0.9)) / 2)
    # A zero on the gold option is clipped, not infinite.
    assert np.isfinite(nll([[1.0, 0.0]], [1]))


def test_smooth_ece_is_the_fixed_point_of_its_bandwidth():
    rng = np.random.default_rng(3)
    confidences = rng.uniform(size=5000)
    # Overconfident at both ends (accuracy 0.25 + c / 2): the residual changes sign at c = 0.5. (Where it
    # keeps one sign, as for accuracy c**2, smoothing conserves it and smECE is the same at every bandwidth.)
    correct = (rng.uniform(size=5000) < 0.25 + confidences / 2).astype(float)
    sigma = smooth_ece_bandwidth(confidences, correct)
    value = smooth_ece(confidences, correct)
    assert value == pytest.approx(sigma, abs=1e-5)
    assert smooth_ece(confidences, correct, bandwidth=sigma) == pytest.approx(value)
    # Larger bandwidths mix the positive and negative residuals and lower the error.
    assert smooth_ece(confidences, correct, bandwidth=0.5) < value - 0.01


def test_smooth_ece_detects_constant_overconfidence():
    confidences = np.full(1000, 0.9)
    correct = np.r_[np.ones(600), np.zeros(400)]
    assert smooth_ece(confidences, correct) == pytest.approx(0.3, abs=1e-3)


def test_reliability_bins_default_to_15_and_leave_empty_bins_quietly():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # empty bins hold NaN, without a RuntimeWarning
        bins = reliability_bins([0.05, 0.95], [0, 1])
    assert len(bins.counts) == 15
    assert bins.counts.dtype == np.int64
    assert np.isnan(bins.accuracy[5])


def test_sce_bins_span_zero_to_one():
    # Class 0: +0.55 (p 0.45, label 0) and -0.55 (p 0.55, label 1) fall in different halves of [0, 1] and
    # do not cancel; the same holds for class 1. Each class contributes 1.1, over n * K = 4.
    assert sce([[0.45, 0.55], [0.55, 0.45]], [0, 1], n_bins=2) == pytest.approx(0.55)


def test_auroc_says_why_it_is_undefined():
    from llmcal.errors import CalibrationWarning
    from llmcal.metrics import auroc

    for correct, word in (([1, 1, 1], "right"), ([0, 0, 0], "wrong")):
        with pytest.warns(CalibrationWarning) as caught:
            assert np.isnan(auroc([0.9, 0.8, 0.7], correct))
        assert str(caught[0].message) == f"AUROC is undefined when all 3 answers are {word}; returning NaN."
        assert not caught[0].filename.endswith("discrimination.py")  # points at the caller


def test_smooth_ece_of_a_single_confidence_is_its_gap_exactly():
    # With one confidence value c the smoothed residual is the kernel times n (c - accuracy): it keeps its
    # sign, so the ratio of integrals is |c - accuracy| at every bandwidth and grid.
    correct = [1] * 40 + [0] * 60
    for bandwidth in (None, 0.05, 1.0):
        assert smooth_ece([0.7] * 100, correct, bandwidth=bandwidth) == pytest.approx(0.3, abs=1e-9)
    # All wrong at confidence 1: the largest possible error, reached at the largest bandwidth.
    assert smooth_ece([1.0] * 10, [0] * 10) == pytest.approx(1.0, abs=1e-9)
    assert smooth_ece_bandwidth([1.0] * 10, [0] * 10) == 1.0
    with pytest.raises(InputError) as error:
        smooth_ece([0.5], [1], bandwidth=1.5)
    assert str(error.value) == "`bandwidth` must be in (0, 1]; got 1.5."


def test_smooth_ece_solves_its_fixed_point_tightly():
    rng = np.random.default_rng(8)
    confidences = rng.uniform(size=3000)
    correct = (rng.uniform(size=3000) < 0.25 + confidences / 2).astype(float)
    sigma = smooth_ece_bandwidth(confidences, correct)
    assert smooth_ece(confidences, correct, bandwidth=sigma) == pytest.approx(sigma, abs=2e-6)


def test_option_masks_hold_booleans():
    assert sce([[0.6, 0.4, 0.0]], [0], [[1, 1, 0]]) == sce([[0.6, 0.4, 0.0]], [0], [[True, True, False]])
    with pytest.raises(InputError) as error:
        sce([[0.6, 0.4]], [0], [[0.5, 1.0]])
    assert str(error.value) == "`option_mask` must hold True/False (does option k exist for item i?)."
    with pytest.raises(InputError) as error:
        sce([[0.6, 0.4]], [0], [[True]])
    assert str(error.value) == "`option_mask` must have the shape of the probabilities, (1, 2); got (1, 1)."
