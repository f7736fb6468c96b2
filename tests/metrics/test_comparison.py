"""Change and change rate between two metric values."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from llmcal import CalibrationWarning
from llmcal.metrics import change, change_rate


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
        assert Path(caught[0].filename).parts[-3:] != ("llmcal", "metrics", "comparison.py")
    assert change_rate(0.2, 0.3) == pytest.approx(0.5)
