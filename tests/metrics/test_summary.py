"""The compact calibration row and the metric settings every summary and comparison shares."""

from __future__ import annotations

import numpy as np
import pytest

from llmcal.metrics import METRICS, MetricSettings, brier, calibration_row, ece, sce


def test_the_calibration_row_of_a_hand_made_ragged_set():
    # Three items: two with three options, one with two (its third option is padding).
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.6, 0.4, 0.0]])
    labels = np.array([0, 2, 0])
    mask = np.array([[True, True, True], [True, True, True], [True, True, False]])
    row = calibration_row(probs, labels, mask)
    assert row.n_items == 3
    assert row.accuracy == pytest.approx(2 / 3)
    assert row.mean_confidence == pytest.approx((0.7 + 0.5 + 0.6) / 3)
    confidences, correct = np.array([0.7, 0.5, 0.6]), np.array([1.0, 0.0, 1.0])
    assert row.ece == pytest.approx(ece(confidences, correct, n_bins=15))
    assert row.sce == pytest.approx(sce(probs, labels, mask, n_bins=15))
    assert row.sce != pytest.approx(sce(probs, labels, n_bins=15))  # the padded option is left out
    assert row.brier == pytest.approx(brier(probs, labels))


def test_metric_settings_say_how_each_metric_is_called_and_binned():
    settings = MetricSettings(n_bins=7, strategy="quantile")
    assert settings.metric_kwargs("ece") == {"n_bins": 7, "strategy": "quantile"}
    assert settings.metric_kwargs("ace") == {"n_bins": 7}  # class-wise metrics have their own strategy
    assert settings.metric_kwargs("brier") == {}
    assert settings.binning("ace") == {"n_bins": 7, "strategy": "quantile"}
    assert settings.binning("sce") == {"n_bins": 7, "strategy": "uniform"}
    assert settings.binning("ece") == {"n_bins": 7, "strategy": "quantile"}
    assert settings.binning("accuracy") == {}
    assert settings.binning("not-a-metric") == {}
    for name in METRICS:  # every registered metric accepts the keyword arguments it is given
        spec = METRICS.get(name)
        arrays = (
            ([0.9, 0.6, 0.7], [1, 0, 1]) if spec.inputs == "top_label" else ([[0.9, 0.1], [0.4, 0.6]], [0, 1])
        )
        assert np.isfinite(spec.function(*arrays, **settings.metric_kwargs(name)))
