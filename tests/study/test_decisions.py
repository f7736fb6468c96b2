from __future__ import annotations

import math

import pytest

from llmcal.study.decisions import Rule, decide, decide_level

RISES = Rule(+1, 0.05)
FALLS = Rule(-1, 0.05)


@pytest.mark.parametrize(
    ("estimate", "low", "high", "rule", "verdict"),
    [
        (0.08, 0.02, 0.12, RISES, "reproduced"),
        (0.05, 0.01, 0.09, RISES, "reproduced"),  # exactly the size that counts
        (0.03, 0.01, 0.05, RISES, "partly"),
        (-0.03, -0.05, -0.01, RISES, "not reproduced"),  # the reverse effect
        (0.01, -0.01, 0.04, RISES, "not reproduced"),  # rules out an effect of 0.05
        (0.02, -0.02, 0.07, RISES, "undecided"),
        (-0.08, -0.12, -0.02, FALLS, "reproduced"),
        (-0.03, -0.05, -0.01, FALLS, "partly"),
        (0.03, 0.01, 0.05, FALLS, "not reproduced"),
        (-0.01, -0.03, 0.02, FALLS, "not reproduced"),
        (-0.02, -0.07, 0.02, FALLS, "undecided"),
        (math.nan, 0.0, 0.1, RISES, "undecided"),
    ],
)
def test_each_verdict_follows_its_rule(estimate, low, high, rule, verdict):
    assert decide(estimate, low, high, rule).verdict == verdict


def test_an_interval_given_upside_down_is_read_the_same():
    assert decide(-0.08, -0.02, -0.12, FALLS) == decide(-0.08, -0.12, -0.02, FALLS)


def test_the_boundary_of_zero_is_not_an_effect():
    assert decide(0.06, 0.0, 0.1, RISES).verdict == "undecided"


@pytest.mark.parametrize(
    ("value", "low", "high", "verdict"),
    [(0.99, 0.97, 1.0, "reproduced"), (0.95, 0.9, 0.98, "reproduced"), (0.8, 0.75, 0.85, "not reproduced")],
)
def test_a_level_is_reproduced_when_its_interval_reaches_the_papers(value, low, high, verdict):
    assert decide_level(value, low, high, 0.98).verdict == verdict
    assert decide_level(math.nan, low, high, 0.98).verdict == "undecided"


def test_each_outcome_says_why_in_its_own_words():
    reasons = {
        decide(0.08, 0.02, 0.12, RISES).reason,
        decide(0.03, 0.01, 0.05, RISES).reason,
        decide(-0.03, -0.05, -0.01, RISES).reason,
        decide(0.01, -0.01, 0.04, RISES).reason,
        decide(0.02, -0.02, 0.07, RISES).reason,
        decide(math.nan, 0.0, 0.1, RISES).reason,
    }
    assert len(reasons) == 6
    assert all(isinstance(reason, str) and reason.islower() and "XX" not in reason for reason in reasons)
    assert "reverse" in decide(-0.03, -0.05, -0.01, RISES).reason
    assert "too little power" in decide(0.02, -0.02, 0.07, RISES).reason


def test_the_edges_of_the_rules():
    # An interval ending exactly at 0 rules out the paper's size, not the effect's sign.
    assert "no effect of that size" in decide(-0.01, -0.02, 0.0, RISES).reason
    # One ending exactly at the size that counts still holds it: too little power to rule it out.
    assert decide(0.02, -0.01, 0.05, RISES).verdict == "undecided"
    assert decide_level(0.9, 0.8, 0.98, 0.98).reason == "the interval reaches the paper's level"
    assert "below" in decide_level(0.9, 0.8, 0.97, 0.98).reason
    assert decide_level(math.nan, 0.8, 0.97, 0.98).reason == "the level could not be measured"
