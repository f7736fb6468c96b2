r"""Selective prediction: how much a model gains by abstaining on the answers it is least sure of.

Items are accepted from the most confident down; at coverage ``k/n`` (the ``k`` most confident kept) the
*selective risk* is the error rate among the kept items. From that curve:

- ``aurc``: the area under the risk-coverage curve, ``(1/n) sum_k risk(k)`` (Geifman & El-Yaniv 2017;
  lm-polygraph's ``rcc-auc``). Lower is better.
- ``auarc``: the area under the accuracy-rejection curve, ``(1/n) sum_k accuracy(k) = 1 - aurc``
  (lm-polygraph's un-normalised ``prr``).
- ``eaurc``: excess AURC, ``aurc - aurc*``, where ``aurc*`` is the AURC of the best ordering of these very
  items (every right answer before every wrong one): ``(1/n)[(n - W) - W (H_n - H_W)]`` with ``W`` right
  answers and ``H`` the harmonic numbers. Geifman et al. (2019) approximate ``aurc*`` by
  ``r + (1 - r) ln(1 - r)`` at error rate ``r``; the exact value is used here, so a perfect ranking has
  E-AURC exactly 0 (the two differ by O(log n / n)).
- ``prr``: prediction-rejection ratio (Malinin & Gales 2021; lm-polygraph's ``prr_normalized``):
  ``(AUARC - AUARC_random) / (AUARC_oracle - AUARC_random)``: 1 for a perfect ranking, 0 in expectation
  for a random one, negative when confidence is anti-correlated with correctness. A random ordering's
  expected AUARC is exactly the accuracy (each kept subset's expected accuracy is), which lm-polygraph
  estimates from 1,000 shuffles. Undefined (NaN) when every answer is right or every answer is wrong.
- ``selective_accuracy(coverage)``: accuracy among the ``ceil(coverage * n)`` most confident items.

**Ties.** Items of equal confidence cannot be told apart, so the risk at a coverage inside a tied group is
its expected value when the group's members are taken in random order: the errors counted among the
group's first ``j`` members are ``j`` times the group's error rate. This makes every metric a function of
the (confidence, correct) pairs alone, independent of the items' order (lm-polygraph's ``argsort`` breaks
ties by position).

Confidences may be any finite real scores, higher meaning more confident (a negated uncertainty serves):
only their order matters. Every value is a function of per-group counts of items and right answers
(:func:`grouped_values`), so the bootstrap computes it from resample counts without drawing rows
(:mod:`llmcal.metrics.count_bootstrap`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from llmcal.errors import CalibrationWarning, InputError
from llmcal.metrics.validation import as_correct, as_scores

__all__ = [
    "SELECTIVE_COVERAGES",
    "ConfidenceGroups",
    "RiskCoverageCurve",
    "auarc",
    "aurc",
    "eaurc",
    "grouped_values",
    "prr",
    "risk_coverage_curve",
    "selective_accuracy",
    "selective_accuracy_name",
]

SELECTIVE_COVERAGES = (0.5, 0.8, 0.9)
"""The coverages whose selective accuracy every summary reports (``sel_acc_50``, ...)."""


@dataclass(frozen=True)
class ConfidenceGroups:
    """Items ordered from the most confident down, cut into groups of equal confidence.

    Attributes:
        order: Item indices, most confident first (ties in index order; they are averaged over anyway).
        starts: Where each group begins in ``order``.
    """

    order: NDArray[np.intp]
    starts: NDArray[np.intp]

    @classmethod
    def of(cls, confidences: NDArray[np.float64]) -> ConfidenceGroups:
        """The groups of ``confidences`` (already validated)."""
        order = np.argsort(-confidences, kind="stable").astype(np.intp)
        ranked = confidences[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]]).astype(np.intp)
        return cls(order, starts)

    def sums(
        self, counts: NDArray[np.float64], correct: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Each group's item count and right answers, per resample (``counts``: a row of item counts each)."""
        ordered = counts[:, self.order]
        kept = np.add.reduceat(ordered, self.starts, axis=1)
        right = np.add.reduceat(ordered * correct[self.order], self.starts, axis=1)
        return kept, right


def _harmonic(n: int) -> NDArray[np.float64]:
    """``H[k] = sum_{j<=k} 1/j`` for ``k`` in ``0..n`` (``H[0] = 0``)."""
    values = np.zeros(n + 1)
    np.cumsum(1.0 / np.arange(1, n + 1), out=values[1:])
    return values


def grouped_values(
    kept: NDArray[np.float64], right: NDArray[np.float64], coverages: Sequence[float] = ()
) -> dict[str, NDArray[np.float64]]:
    """Every selective metric of each row of per-group counts, groups from the most confident down.

    Args:
        kept: ``(rows, groups)`` items per group (integers as floats; bootstrap counts).
        right: ``(rows, groups)`` right answers per group.
        coverages: Coverages in (0, 1] whose selective accuracy is wanted, keyed ``"coverage:<c>"``.

    Returns:
        ``aurc``, ``eaurc``, ``auarc``, ``prr`` (NaN where undefined) and one entry per coverage, one value
        per row.
    """
    total = kept.sum(axis=1)
    wins = right.sum(axis=1)
    n_max = round(float(total.max()))
    harmonic = _harmonic(n_max)
    before = np.cumsum(kept, axis=1) - kept
    errors = kept - right
    errors_before = np.cumsum(errors, axis=1) - errors
    index_before = np.rint(before).astype(np.intp)
    spread = harmonic[np.rint(before + kept).astype(np.intp)] - harmonic[index_before]
    with np.errstate(invalid="ignore", divide="ignore"):
        share_wrong = np.where(kept > 0, errors / kept, 0.0)
    # Sum over a group's positions k = a+1..a+m of (E_a + (k - a) e/m) / k, in closed form.
    area = (errors_before * spread + errors - share_wrong * before * spread).sum(axis=1)
    risk_area = area / total
    tail = harmonic[np.rint(total).astype(np.intp)] - harmonic[np.rint(wins).astype(np.intp)]
    best = ((total - wins) - wins * tail) / total
    accuracy = wins / total
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (1.0 - risk_area - accuracy) / (1.0 - best - accuracy)
    defined = (wins > 0) & (wins < total)
    values = {
        "aurc": risk_area,
        "eaurc": np.maximum(risk_area - best, 0.0),
        "auarc": 1.0 - risk_area,
        "prr": np.where(defined, ratio, np.nan),
    }
    for coverage in coverages:
        values[f"coverage:{coverage}"] = _kept_accuracy(kept, right, before, total, coverage)
    return values


def _kept_accuracy(
    kept: NDArray[np.float64],
    right: NDArray[np.float64],
    before: NDArray[np.float64],
    total: NDArray[np.float64],
    coverage: float,
) -> NDArray[np.float64]:
    """Accuracy among each row's ``ceil(coverage * n)`` most confident items, ties in expectation."""
    # Rounded first so 0.9 * 30 = 27.000000000000004 keeps 27 items, not 28.
    wanted = np.maximum(np.ceil(np.round(coverage * total, 9)), 1.0)
    rows = np.arange(len(kept))
    group = np.minimum(((before + kept) < wanted[:, None]).sum(axis=1), kept.shape[1] - 1)
    right_before = (np.cumsum(right, axis=1) - right)[rows, group]
    inside = wanted - before[rows, group]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(kept[rows, group] > 0, right[rows, group] / kept[rows, group], 0.0)
    accuracy: NDArray[np.float64] = (right_before + inside * share) / wanted
    return accuracy


def _checked(confidences: ArrayLike, correct: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    scores = as_scores(confidences, "confidences")
    return scores, as_correct(correct, len(scores))


def _values(confidences: ArrayLike, correct: ArrayLike, coverages: Sequence[float] = ()) -> dict[str, float]:
    scores, y = _checked(confidences, correct)
    groups = ConfidenceGroups.of(scores)
    kept, right = groups.sums(np.ones((1, len(scores))), y)
    return {name: float(value[0]) for name, value in grouped_values(kept, right, coverages).items()}


def aurc(confidences: ArrayLike, correct: ArrayLike) -> float:
    """Area under the risk-coverage curve: mean selective risk over coverages ``1/n .. n/n``.

    Args:
        confidences: Any finite scores, higher meaning more confident, shape ``(n,)``.
        correct: 1 where the answer was right.

    Examples:
        >>> round(aurc([0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0]), 6)  # (0 + 0 + 1/3 + 2/4) / 4
        0.208333
    """
    return _values(confidences, correct)["aurc"]


def eaurc(confidences: ArrayLike, correct: ArrayLike) -> float:
    """Excess AURC: AURC minus that of the best ordering of the same items (0 for a perfect ranking).

    Examples:
        >>> eaurc([0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0])
        0.0
    """
    return _values(confidences, correct)["eaurc"]


def auarc(confidences: ArrayLike, correct: ArrayLike) -> float:
    """Area under the accuracy-rejection curve: mean accuracy of the kept items, ``1 - aurc``.

    Examples:
        >>> round(auarc([0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0]), 6)
        0.791667
    """
    return _values(confidences, correct)["auarc"]


def prr(confidences: ArrayLike, correct: ArrayLike) -> float:
    """Prediction-rejection ratio: AUARC normalised to 0 for random rejection and 1 for the oracle's.

    Returns:
        The ratio, or NaN (with a :class:`~llmcal.errors.CalibrationWarning`) when every answer is right
        or every answer is wrong: then no ordering beats another.

    Examples:
        >>> prr([0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0])
        1.0
        >>> prr([0.1, 0.2, 0.9, 0.6], [1, 1, 0, 0])  # the least confident answers are the right ones
        -1.0
    """
    value = _values(confidences, correct)["prr"]
    if math.isnan(value):
        warnings.warn(
            "PRR is undefined when every answer is right or every answer is wrong; returning NaN.",
            CalibrationWarning,
            stacklevel=2,
        )
    return value


def selective_accuracy(confidences: ArrayLike, correct: ArrayLike, coverage: float) -> float:
    """Accuracy among the ``ceil(coverage * n)`` most confident answers.

    Raises:
        InputError: If ``coverage`` is not in (0, 1].

    Examples:
        >>> selective_accuracy([0.9, 0.8, 0.3, 0.6], [1, 1, 0, 1], coverage=0.5)
        1.0
    """
    return _values(confidences, correct, (_checked_coverage(coverage),))[f"coverage:{coverage}"]


def selective_accuracy_name(coverage: float) -> str:
    """The catalogue name of the selective accuracy at ``coverage``: ``sel_acc_80`` for 0.8."""
    return f"sel_acc_{round(coverage * 100)}"


def _checked_coverage(coverage: float) -> float:
    if isinstance(coverage, bool) or not isinstance(coverage, int | float) or not 0.0 < coverage <= 1.0:
        raise InputError(f"`coverage` must be a number in (0, 1]; got {coverage!r}.", parameter="coverage")
    return float(coverage)


@dataclass(frozen=True)
class RiskCoverageCurve:
    """Selective risk at each coverage ``k/n``, ``k = 1..n``: the points AURC averages.

    Attributes:
        coverage: ``k/n``, increasing.
        risk: The error rate among the ``k`` most confident items (ties in expectation).
    """

    coverage: NDArray[np.float64]
    risk: NDArray[np.float64]

    def thinned(self, points: int = 200) -> RiskCoverageCurve:
        """About ``points`` evenly spaced points of the curve, full coverage kept: for plots."""
        if len(self.coverage) <= points:
            return self
        keep = np.unique(np.r_[np.linspace(0, len(self.coverage) - 1, points).round().astype(np.intp)])
        return RiskCoverageCurve(self.coverage[keep], self.risk[keep])


def risk_coverage_curve(confidences: ArrayLike, correct: ArrayLike) -> RiskCoverageCurve:
    """The risk-coverage curve: error rate among the ``k`` most confident items, for every ``k``.

    Examples:
        >>> curve = risk_coverage_curve([0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0])
        >>> curve.coverage.tolist(), curve.risk.tolist()
        ([0.25, 0.5, 0.75, 1.0], [0.0, 0.0, 0.3333333333333333, 0.5])
    """
    scores, y = _checked(confidences, correct)
    groups = ConfidenceGroups.of(scores)
    n = len(scores)
    kept, right = (values[0] for values in groups.sums(np.ones((1, n)), y))
    sizes = kept.astype(np.intp)
    group_of = np.repeat(np.arange(len(sizes)), sizes)
    before = np.cumsum(kept) - kept
    errors = kept - right
    errors_before = np.cumsum(errors) - errors
    k = np.arange(1, n + 1, dtype=np.float64)
    expected_errors = errors_before[group_of] + (k - before[group_of]) * (errors / kept)[group_of]
    return RiskCoverageCurve(k / n, expected_errors / k)
