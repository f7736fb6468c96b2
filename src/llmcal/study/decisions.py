"""How a claim is decided from a measured effect and its interval, fixed before any number was seen.

A claim says an effect goes one way (``direction``), and, where the paper gives a size, how large it is;
``meaningful`` is the smallest effect in that direction that would count as reproducing it (half the
paper's, where it gives one). With the effect oriented so that the paper's direction is positive:

- **reproduced**: the interval lies above 0 and the estimate reaches ``meaningful``;
- **partly**: the interval lies above 0 but the estimate falls short of ``meaningful``;
- **not reproduced**: the interval lies below 0 (the opposite effect), or below ``meaningful`` (no effect of
  the paper's size: the interval rules it out);
- **undecided**: the interval holds both 0 and ``meaningful``: too little power to tell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Decision", "Rule", "decide", "decide_level"]


@dataclass(frozen=True)
class Rule:
    """What a claim predicts: the effect's sign (+1 rises, -1 falls) and the smallest effect that counts."""

    direction: int
    meaningful: float


@dataclass(frozen=True)
class Decision:
    """A verdict and the reason in words."""

    verdict: str
    reason: str


def decide(estimate: float, low: float, high: float, rule: Rule) -> Decision:
    """The verdict on an effect ``estimate`` with interval ``[low, high]`` under ``rule``.

    Examples:
        >>> decide(0.05, 0.02, 0.08, Rule(+1, 0.03)).verdict
        'reproduced'
        >>> decide(-0.01, -0.03, 0.01, Rule(-1, 0.05)).verdict
        'not reproduced'
        >>> decide(-0.03, -0.08, 0.02, Rule(-1, 0.05)).verdict
        'undecided'
    """
    if any(math.isnan(value) for value in (estimate, low, high)):
        return Decision("undecided", "the effect could not be measured (too few items of a kind)")
    sign = rule.direction
    oriented = sign * estimate
    lo, hi = sorted((sign * low, sign * high))
    if lo > 0 and oriented >= rule.meaningful:
        return Decision("reproduced", "the interval excludes 0 and the effect reaches the size that counts")
    if lo > 0:
        return Decision("partly", "the effect goes the paper's way, but is smaller than the size that counts")
    if hi < 0:
        return Decision("not reproduced", "the interval excludes 0 on the opposite side: the reverse effect")
    if hi < rule.meaningful:
        return Decision(
            "not reproduced",
            "the interval excludes an effect of the size that counts: no effect of that size",
        )
    return Decision("undecided", "the interval holds both 0 and the size that counts: too little power")


def decide_level(value: float, low: float, high: float, target: float) -> Decision:
    """The verdict on a level the paper reports (e.g. a detector's 98% accuracy): is it within reach?

    Examples:
        >>> decide_level(0.99, 0.97, 1.0, 0.98).verdict
        'reproduced'
        >>> decide_level(0.80, 0.75, 0.85, 0.98).verdict
        'not reproduced'
    """
    if any(math.isnan(number) for number in (value, low, high)):
        return Decision("undecided", "the level could not be measured")
    if high >= target:
        return Decision("reproduced", "the interval reaches the paper's level")
    return Decision("not reproduced", "the interval lies below the paper's level")
