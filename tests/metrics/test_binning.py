"""Reliability bins."""

from __future__ import annotations

import pytest


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
