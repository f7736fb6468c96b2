"""Change of a metric between two runs, e.g. a pretrained model (base) and its aligned version."""

from __future__ import annotations

import math
import warnings

from llmcal.errors import CalibrationWarning

__all__ = ["change", "change_rate"]


def change(base: float, other: float) -> float:
    """Absolute change ``other - base`` (e.g. ECE(aligned) - ECE(pretrained)).

    Examples:
        >>> round(change(0.05, 0.12), 6)
        0.07
    """
    return float(other) - float(base)


def change_rate(base: float, other: float) -> float:
    """Relative change ``(other - base) / base``, the "change rate" (CR) of Oh & Hwang (2024).

    Returns:
        The rate as a fraction (0.5 means +50%). NaN, with a :class:`CalibrationWarning`, when ``base``
        is 0, since the rate is then undefined.

    Examples:
        >>> round(change_rate(0.05, 0.12), 6)
        1.4
    """
    if float(base) == 0.0 or math.isnan(base) or math.isnan(other):
        warnings.warn(
            f"change rate is undefined for base={base!r}, other={other!r}; returning NaN.",
            CalibrationWarning,
            stacklevel=2,
        )
        return float("nan")
    return (float(other) - float(base)) / float(base)
