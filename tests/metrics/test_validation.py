"""Bad input fails once, at the public function, with a message that names the input and the fix."""

from __future__ import annotations

import numpy as np
import pytest

from llmcal import InputError
from llmcal.metrics import METRICS, bootstrap_ci, ece, reliability_bins, sce, smooth_ece

GOOD_PROBS = np.array([[0.7, 0.3], [0.4, 0.6]])


# Whole messages: each names the argument, what was expected, what was found and, where it helps, the fix.
@pytest.mark.parametrize(
    ("confidences", "correct", "message"),
    [
        ([0.5, 0.6], [1], "`correct` has 1 items but the confidences have 2; they must be aligned item by "
         "item."),
        ([0.5, np.nan], [1, 0], "`confidences` contains NaN or infinite values (first at item 1). Drop or "
         "fix those items before computing metrics."),
        ([0.5, 1.2], [1, 0], "`confidences` must lie in [0, 1]; got min=0.5, max=1.2. If these are logits or "
         "log-probabilities, convert them with a softmax first (or use TemperatureScaler().fit(logits=..., "
         "labels=...))."),
        ([0.5, 0.6], [1, 2], "`correct` must hold 0/1 or True/False; item 1 is 2.0. Pass correctness "
         "(prediction == label), not the labels themselves."),
        ([], [], "`confidences` is empty; a calibration metric needs at least one item."),
        ([[0.5, 0.6]], [1], "`confidences` must have shape (n,); got an array of shape (1, 2)."),
        (["high", "low"], [1, 0], "`confidences` must be numeric; could not convert it to float (could not "
         "convert string to float: 'high')."),
    ],
)  # fmt: skip
def test_top_label_input_errors(confidences, correct, message):
    with pytest.raises(InputError) as error:
        ece(confidences, correct)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("probs", "labels", "message"),
    [
        ([[0.7, 0.3], [0.4, 0.4]], [0, 1], "Each row of `probs` must sum to 1; row 1 sums to 0.8. "
         "Renormalise with probs / probs.sum(axis=1, keepdims=True)."),
        ([[0.7, 0.3], [0.4, 0.6]], [0, 2], "`labels` must index the 2 options (0..1); item 1 has 2."),
        ([[0.7, 0.3], [0.5, 0.5]], [-1, 0], "`labels` must index the 2 options (0..1); item 0 has -1."),
        ([[0.7, 0.3], [0.4, 0.6]], [0], "`labels` has 1 items but the probabilities have 2 rows; they must "
         "be aligned item by item."),
        ([[1.7, -0.7], [0.4, 0.6]], [0, 1], "`probs` must lie in [0, 1]; got min=-0.7, max=1.7. If these are "
         "logits or log-likelihood scores, apply a softmax over each row first."),
        ([[1.0], [1.0]], [0, 0], "`probs` must have at least 2 options (columns); got shape (2, 1)."),
        ([[0.7, 0.3], [0.4, 0.6]], [0.0, 0.5], "`labels` must hold integer option indices; got non-integer "
         "values."),
        ([[0.7, 0.3]], ["a"], "`labels` must hold integer option indices; got dtype <U1."),
        ([[0.7, 0.3]], [[0]], "`labels` must have shape (n,); got an array of shape (1, 1)."),
        ([0.7, 0.3], [0, 1], "`probs` must have shape (n, n_options); got an array of shape (2,)."),
    ],
)  # fmt: skip
def test_probability_input_errors(probs, labels, message):
    with pytest.raises(InputError) as error:
        sce(probs, labels)
    assert str(error.value) == message


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_rejects_nan(name):
    spec = METRICS.get(name)
    arrays = ([0.5, np.nan], [1, 0]) if spec.inputs == "top_label" else ([[0.5, 0.5], [np.nan, 0.5]], [0, 1])
    with pytest.raises(InputError, match="NaN"):
        spec.function(*arrays)


def test_options_are_checked():
    with pytest.raises(InputError, match="`n_bins` must be a positive integer; got 0"):
        ece([0.5], [1], n_bins=0)
    with pytest.raises(InputError, match="`strategy` must be one of uniform, quantile; got 'equal'"):
        reliability_bins([0.5], [1], strategy="equal")
    with pytest.raises(InputError, match="`bandwidth` must be in"):
        smooth_ece([0.5], [1], bandwidth=0.0)
    with pytest.raises(InputError, match="same number of items; got lengths 2, 3"):
        bootstrap_ci(ece, [0.5, 0.6], [1, 0, 1])


def test_float32_rows_that_sum_to_one_within_rounding_are_accepted():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1.0] * 5, size=100).astype(np.float32)
    assert sce(probs, rng.integers(0, 5, size=100)) >= 0.0
