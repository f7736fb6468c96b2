"""llmcal metrics against the libraries people already trust, on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import relplot
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from torchmetrics.functional.classification import multiclass_calibration_error

from llmcal.metrics import (
    auroc,
    brier,
    ece,
    mce,
    nll,
    reliability_bins,
    rms_ce,
    smooth_ece,
    top_label_brier,
    top_label_confidence,
)

SEEDS = [0, 1, 2, 3]


def random_run(seed: int, n_items: int = 3000, n_options: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n_options, 0.7), size=n_items)
    # Labels from a flattened version of the probabilities: an overconfident model.
    flat = 0.5 * probs + 0.5 / n_options
    labels = (rng.uniform(size=(n_items, 1)) > flat.cumsum(axis=1)).sum(axis=1).clip(0, n_options - 1)
    return probs, labels


def torchmetrics_ce(probs: np.ndarray, labels: np.ndarray, n_bins: int, norm: str) -> float:
    return float(
        multiclass_calibration_error(
            torch.from_numpy(probs),  # float64 so both sides do the same arithmetic
            torch.from_numpy(labels),
            num_classes=probs.shape[1],
            n_bins=n_bins,
            norm=norm,
        )
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_bins", [1, 10, 15, 30])
@pytest.mark.parametrize(("function", "norm"), [(ece, "l1"), (mce, "max"), (rms_ce, "l2")])
def test_binned_errors_match_torchmetrics(seed, n_bins, function, norm):
    probs, labels = random_run(seed, n_options=2 + seed)
    confidences, correct = top_label_confidence(probs, labels)
    ours = function(confidences, correct, n_bins=n_bins)
    assert ours == pytest.approx(torchmetrics_ce(probs, labels, n_bins, norm), abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_brier_matches_sklearn(seed):
    probs, labels = random_run(seed, n_options=2 + seed)
    expected = brier_score_loss(labels, probs, labels=list(range(probs.shape[1])), scale_by_half=False)
    assert brier(probs, labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_top_label_brier_matches_sklearn_binary_brier(seed):
    probs, labels = random_run(seed, n_options=2 + seed)
    confidences, correct = top_label_confidence(probs, labels)
    expected = brier_score_loss(correct.astype(int), confidences)
    assert top_label_brier(confidences, correct) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_nll_matches_sklearn(seed):
    probs, labels = random_run(seed, n_options=2 + seed)
    expected = log_loss(labels, probs, labels=list(range(probs.shape[1])))
    assert nll(probs, labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_auroc_matches_sklearn_including_ties(seed):
    probs, labels = random_run(seed)
    confidences, correct = top_label_confidence(probs, labels)
    # Rounding creates many ties, which AUROC must count as one half.
    for values in (confidences, np.round(confidences, 1)):
        assert auroc(values, correct) == pytest.approx(roc_auc_score(correct, values), abs=1e-12)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("seed", SEEDS)
def test_reliability_bins_match_sklearn_calibration_curve(seed, strategy):
    probs, labels = random_run(seed)
    confidences, correct = top_label_confidence(probs, labels)
    # Put many values exactly on inner edges: both libraries use right-closed bins (e_{b-1}, e_b].
    confidences = np.where(np.arange(len(confidences)) % 5 == 0, np.round(confidences, 1), confidences)
    bins = reliability_bins(confidences, correct, n_bins=10, strategy=strategy)
    accuracy, mean_confidence = calibration_curve(correct, confidences, n_bins=10, strategy=strategy)
    filled = bins.counts > 0
    np.testing.assert_allclose(bins.accuracy[filled], accuracy, atol=1e-12)
    np.testing.assert_allclose(bins.mean_confidence[filled], mean_confidence, atol=1e-12)


def smooth_ece_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    cases = []
    for n_items in (200, 2000, 20000):
        uniform = rng.uniform(size=n_items)
        cases.append((f"calibrated-{n_items}", uniform, rng.uniform(size=n_items) < uniform))
        cases.append((f"overconfident-{n_items}", uniform, rng.uniform(size=n_items) < uniform**3))
        cases.append((f"underconfident-{n_items}", uniform, rng.uniform(size=n_items) < np.sqrt(uniform)))
        sharp = rng.beta(8, 1, size=n_items)  # LLM-like: most mass near 1, accuracy 50%
        cases.append((f"sharp-wrong-{n_items}", sharp, rng.uniform(size=n_items) < 0.5))
        mc = 0.25 + 0.75 * rng.beta(5, 1.5, size=n_items)  # 4-option MC confidences
        cases.append((f"mc-{n_items}", mc, rng.uniform(size=n_items) < mc - 0.15))
    return [(name, conf, correct.astype(float)) for name, conf, correct in cases]


@pytest.mark.parametrize(
    ("name", "confidences", "correct"), smooth_ece_cases(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_smooth_ece_matches_relplot(name, confidences, correct):
    assert smooth_ece(confidences, correct) == pytest.approx(relplot.smECE(confidences, correct), abs=1e-3)


@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
def test_bin_accuracy_intervals_match_scipys_wilson_interval(level):
    from scipy.stats import binomtest

    from llmcal.metrics import ReliabilityBins

    counts = np.array([0, 1, 7, 10, 25, 40, 3])
    hits = np.array([0, 1, 0, 8, 12, 40, 2])
    accuracy = np.divide(hits, counts, out=np.zeros(len(counts)), where=counts > 0)
    bins = ReliabilityBins(np.linspace(0, 1, len(counts) + 1), counts, accuracy, accuracy)
    low, high = bins.accuracy_interval(level)
    assert np.isnan(low[0])
    assert np.isnan(high[0])  # an empty bin has no interval
    for index in range(1, len(counts)):
        peer = binomtest(int(hits[index]), int(counts[index])).proportion_ci(level, method="wilson")
        assert low[index] == pytest.approx(peer.low, abs=1e-12)
        assert high[index] == pytest.approx(peer.high, abs=1e-12)


def test_bin_accuracy_intervals_hold_an_accuracy_of_0_or_1_despite_rounding():
    from llmcal.metrics import ReliabilityBins

    counts = np.arange(1, 60)  # 7 all-wrong items put the lower end 3e-17 above 0 before the fix
    for accuracy in (0.0, 1.0):
        bins = ReliabilityBins(np.linspace(0, 1, 60), counts, np.full(59, 0.5), np.full(59, accuracy))
        low, high = bins.accuracy_interval()
        assert (low <= accuracy).all()
        assert (high >= accuracy).all()


def test_bin_intervals_default_to_95_percent_and_warn_about_nothing():
    import warnings as warnings_module

    from llmcal.metrics import ReliabilityBins

    bins = ReliabilityBins(
        np.array([0.0, 0.5, 1.0]), np.array([0, 20]), np.array([0.0, 0.7]), np.array([0.0, 0.8])
    )
    with warnings_module.catch_warnings():
        warnings_module.simplefilter("error")  # an empty bin divides by zero: silently, into NaN
        default = bins.accuracy_interval()
    assert np.array_equal(default[0], bins.accuracy_interval(0.95)[0], equal_nan=True)
