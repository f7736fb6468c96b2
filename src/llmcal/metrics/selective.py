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
  E-AURC 0 up to float rounding (the two differ by O(log n / n)).
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
only their order matters. Every value is a function of running counts of the items in
:func:`wrong_then_right_order` (:meth:`ConfidenceGroups.values`), so the bootstrap computes it from
resample counts without drawing rows (:mod:`llmcal.metrics.count_bootstrap`).
"""

from __future__ import annotations

import functools
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
    "prr",
    "risk_coverage_curve",
    "selective_accuracy",
    "selective_accuracy_name",
    "wrong_then_right_order",
]

SELECTIVE_COVERAGES = (0.5, 0.8, 0.9)
"""The coverages whose selective accuracy every summary reports (``sel_acc_50``, ...)."""


@functools.lru_cache(maxsize=4)
def _harmonic_tables(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``H[k] = sum_{j<=k} 1/j`` and ``T[k] = k H[k]`` for ``k`` in ``0..n`` (``H[0] = 0``), read-only.

    Cached: every block of bootstrap resamples of one run asks for the same ``n``.
    """
    harmonic = np.zeros(n + 1)
    np.cumsum(1.0 / np.arange(1, n + 1), out=harmonic[1:])
    scaled = harmonic * np.arange(n + 1)
    harmonic.flags.writeable = scaled.flags.writeable = False  # shared through the cache
    return harmonic, scaled


def wrong_then_right_order(
    confidences: NDArray[np.float64], correct: NDArray[np.float64]
) -> NDArray[np.intp]:
    """Item indices with the wrong answers first, then the right ones, each by increasing confidence.

    :class:`ConfidenceGroups` reads counts of items in this order; so does the bootstrap's AUROC kernel
    (:func:`llmcal.metrics.count_bootstrap.resampling_order`).
    """
    return np.lexsort((confidences, correct)).astype(np.intp)


@dataclass(frozen=True)
class ConfidenceGroups:
    """Groups of equal confidence, most confident first, found among items in :func:`wrong_then_right_order`.

    In that order a group's wrong answers are one run of positions and its right answers another, and
    every item more confident than the group lies after both runs. So with ``C``, a running total of item
    counts with a leading zero (``C[i]`` counts the first ``i`` items), a group's item and error counts and
    the items above it are a few reads of ``C``: no resample is reordered or summed group by group.

    Attributes:
        n_wrong: Wrong answers, the first positions.
        wrong_start, wrong_end: Each group's wrong answers, positions ``[start, end)`` (empty when none).
        right_start, right_end: Its right answers, likewise, among positions ``n_wrong..n``.
        erring: The groups with a wrong answer, the only ones selective risk accumulates in.
        erring_bounds: ``wrong_end`` of each erring group, then the ``wrong_start`` of the last: its
            erring groups' wrong answers tile the wrong positions, so one read gives both ends of each.
    """

    n_wrong: int
    wrong_start: NDArray[np.intp]
    wrong_end: NDArray[np.intp]
    right_start: NDArray[np.intp]
    right_end: NDArray[np.intp]
    erring: NDArray[np.intp]
    erring_bounds: NDArray[np.intp]

    @classmethod
    def of(cls, confidences: NDArray[np.float64], correct: NDArray[np.float64]) -> ConfidenceGroups:
        """The groups of items already in :func:`wrong_then_right_order` (validated scores, 0/1 correct)."""
        n_wrong = int(np.count_nonzero(correct == 0.0))
        wrong, right = confidences[:n_wrong], confidences[n_wrong:]
        levels = np.unique(confidences)[::-1]
        wrong_start = np.searchsorted(wrong, levels, side="left").astype(np.intp)
        wrong_end = np.searchsorted(wrong, levels, side="right").astype(np.intp)
        right_start = (n_wrong + np.searchsorted(right, levels, side="left")).astype(np.intp)
        right_end = (n_wrong + np.searchsorted(right, levels, side="right")).astype(np.intp)
        erring = np.flatnonzero(wrong_end > wrong_start).astype(np.intp)
        bounds = np.r_[wrong_end[erring], wrong_start[erring[-1:]]].astype(np.intp)
        return cls(n_wrong, wrong_start, wrong_end, right_start, right_end, erring, bounds)

    def counts(self, cumulative: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Each group's item count and right answers, ``(rows, groups)``, from running totals of counts."""
        right = cumulative[:, self.right_end] - cumulative[:, self.right_start]
        return cumulative[:, self.wrong_end] - cumulative[:, self.wrong_start] + right, right

    def values(
        self, cumulative: NDArray[np.float64], coverages: Sequence[float] = ()
    ) -> dict[str, NDArray[np.float64]]:
        """Every selective metric of each row of running item counts.

        Args:
            cumulative: ``(rows, n + 1)``: ``cumulative[b, i]`` is row ``b``'s count of the first ``i``
                items (integers as floats; a bootstrap resample's, or ``0..n`` for the items themselves).
            coverages: Coverages in (0, 1] whose selective accuracy is wanted, keyed ``"coverage:<c>"``.

        Returns:
            ``aurc``, ``eaurc``, ``auarc``, ``prr`` (NaN where undefined) and one entry per coverage, one
            value per row.
        """
        total = cumulative[:, -1]
        wrong_total = cumulative[:, self.n_wrong]
        wins = total - wrong_total
        harmonic, scaled = _harmonic_tables(round(float(total.max())))
        harmonic_total = harmonic[np.rint(total).astype(np.intp)]
        # sum_k E_k / k over coverages k = 1..n (see _group_spreads).
        error_area = wrong_total * (harmonic_total + 1.0) - self._group_spreads(
            cumulative, wrong_total, total, scaled
        )
        risk_area = error_area / total
        tail = harmonic_total - harmonic[np.rint(wins).astype(np.intp)]
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
            values[f"coverage:{coverage}"] = self._kept_accuracy(cumulative, wrong_total, total, coverage)
        return values

    def _group_spreads(
        self,
        cumulative: NDArray[np.float64],
        wrong_total: NDArray[np.float64],
        total: NDArray[np.float64],
        scaled: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        r"""``sum_groups (e/m) (T(a+m) - T(a))`` per row: what ``sum_k E_k / k`` takes from ``E (H_n + 1)``.

        ``E_k`` is the expected errors among the top ``k``. Swapping the sums, an error at position ``j``
        counts ``sum_{k >= j} 1/k = H_n - H_{j-1}``. A group above ``a`` items with ``m`` items, ``e`` of
        them wrong, has ``e/m`` expected errors at each of positions ``a+1..a+m``, and
        ``sum_{i=a}^{a+m-1} H_i = T(a+m) - T(a) - m`` with ``T(N) = N H_N`` (``scaled``). Summed:
        ``sum_k E_k / k = E (H_n + 1) - sum_groups (e/m) (T(a+m) - T(a))``; only groups with an error count.
        """
        if not len(self.erring):
            return np.zeros(len(cumulative))
        # Arrays of (rows, erring groups), a few million cells per block of resamples: updated in place
        # where they can be, since fresh pages for each temporary cost as much as the arithmetic.
        ends = cumulative[:, self.erring_bounds]
        errors = ends[:, :-1] - ends[:, 1:]
        above = cumulative[:, self.right_end[self.erring]]  # for now: the counts up to its right answers
        kept = cumulative[:, self.right_start[self.erring]]
        np.subtract(above, kept, out=kept)  # its right answers
        kept += errors
        above += ends[:, :-1]
        np.subtract((wrong_total + total)[:, None], above, out=above)  # the items above it
        low = above.astype(np.intp)  # counts are whole numbers: exact
        above += kept
        spread = scaled[above.astype(np.intp)]
        spread -= scaled[low]
        np.divide(errors, kept, out=errors, where=kept > 0)  # the share wrong (0 where nothing is kept)
        spreads: NDArray[np.float64] = np.einsum("ij,ij->i", errors, spread)
        return spreads

    def _kept_accuracy(
        self,
        cumulative: NDArray[np.float64],
        wrong_total: NDArray[np.float64],
        total: NDArray[np.float64],
        coverage: float,
    ) -> NDArray[np.float64]:
        """Accuracy among each row's ``ceil(coverage * n)`` most confident items, ties in expectation."""
        # Rounded first so 0.9 * 30 = 27.000000000000004 keeps 27 items, not 28.
        wanted = np.maximum(np.ceil(np.round(coverage * total, 9)), 1.0)
        rows = np.arange(len(cumulative))

        def at_least_as_confident(group: NDArray[np.intp]) -> NDArray[np.float64]:
            wrong_above = wrong_total - cumulative[rows, self.wrong_start[group]]
            return wrong_above + total - cumulative[rows, self.right_start[group]]

        # The first group (most confident first) reaching the wanted count, by bisection per row.
        low = np.zeros(len(rows), dtype=np.intp)
        high = np.full(len(rows), len(self.wrong_start) - 1, dtype=np.intp)
        while np.any(low < high):
            middle = (low + high) // 2
            reached = at_least_as_confident(middle) >= wanted
            high = np.where(reached, middle, high)
            low = np.where(reached, low, middle + 1)
        right_above = total - cumulative[rows, self.right_end[low]]
        right = cumulative[rows, self.right_end[low]] - cumulative[rows, self.right_start[low]]
        errors = cumulative[rows, self.wrong_end[low]] - cumulative[rows, self.wrong_start[low]]
        kept = right + errors
        inside = wanted - (at_least_as_confident(low) - kept)
        accuracy: NDArray[np.float64] = (right_above + inside * right / kept) / wanted
        return accuracy


def _checked(confidences: ArrayLike, correct: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    scores = as_scores(confidences, "confidences")
    return scores, as_correct(correct, len(scores))


def _values(confidences: ArrayLike, correct: ArrayLike, coverages: Sequence[float] = ()) -> dict[str, float]:
    groups, cumulative = _groups_of(*_checked(confidences, correct))
    return {name: float(value[0]) for name, value in groups.values(cumulative, coverages).items()}


def _groups_of(
    scores: NDArray[np.float64], correct: NDArray[np.float64]
) -> tuple[ConfidenceGroups, NDArray[np.float64]]:
    """The items' groups and running counts (each item counted once), as one row."""
    order = wrong_then_right_order(scores, correct)
    return ConfidenceGroups.of(scores[order], correct[order]), np.arange(len(scores) + 1.0)[None, :]


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
    groups, cumulative = _groups_of(*_checked(confidences, correct))
    n = cumulative.shape[1] - 1
    kept, right = (values[0] for values in groups.counts(cumulative))
    sizes = kept.astype(np.intp)
    group_of = np.repeat(np.arange(len(sizes)), sizes)
    before = np.cumsum(kept) - kept
    errors = kept - right
    errors_before = np.cumsum(errors) - errors
    k = np.arange(1, n + 1, dtype=np.float64)
    expected_errors = errors_before[group_of] + (k - before[group_of]) * (errors / kept)[group_of]
    return RiskCoverageCurve(k / n, expected_errors / k)
