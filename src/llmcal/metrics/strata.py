"""Strata of items by one of their fields, and every metric per stratum.

A numeric field (``popularity``) gives quantile strata: up to ``n_strata`` groups of about equal size
over the sorted values, cut only between distinct values, so tied items always share a stratum. A text
or true/false field (``subject``, ``relation``) gives one stratum per value, in sorted order. Reading
calibration by how well known a fact is shows the prior-knowledge effect (Mallen et al., 2023: models are
less accurate, and worse calibrated, on rare facts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from llmcal.errors import InputError
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import Summary, summarize

__all__ = ["Strata", "StrataKind", "Stratum", "StratumValue", "stratify", "summarize_strata"]

StratumValue = str | int | float | bool
"""One item's value of the field it is stratified by."""

StrataKind = Literal["quantile", "categorical"]

# Significant digits of a numeric stratum's label: the fewest that still tell every label apart.
_MIN_DIGITS, _MAX_DIGITS = 2, 17
# From this magnitude on, every label of a set of strata is in scientific notation (one notation per set).
_SCIENTIFIC_FROM = 1e5


@dataclass(frozen=True)
class Stratum:
    """One stratum: its label and, for a numeric field, the smallest and largest value it holds.

    Attributes:
        label: ``"1.2e5–3.4e6"`` (a numeric range, both ends included), ``"7"`` (one numeric value) or
            the text value itself.
        lower: Smallest value in the stratum; ``None`` for text and true/false fields.
        upper: Largest value in the stratum; ``None`` for text and true/false fields.
    """

    label: str
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class Strata:
    """Items assigned to strata.

    Attributes:
        kind: ``"quantile"`` (a numeric field) or ``"categorical"`` (one stratum per value).
        strata: The strata, in increasing order of value.
        index: Each item's stratum, a position in ``strata``, shape ``(n,)``.
    """

    kind: StrataKind
    strata: tuple[Stratum, ...]
    index: NDArray[np.intp]

    def rows(self, position: int) -> NDArray[np.bool_]:
        """Row mask of the items in stratum ``position``, shape ``(n,)``."""
        return np.asarray(self.index == position, dtype=np.bool_)

    def subset(self, rows: NDArray[np.bool_]) -> Strata:
        """The same strata over the items a boolean row mask selects (e.g. those a method answered)."""
        return Strata(self.kind, self.strata, self.index[rows])

    @property
    def counts(self) -> list[int]:
        """Number of items per stratum."""
        return [int(count) for count in np.bincount(self.index, minlength=len(self.strata))]


def stratify(values: Sequence[StratumValue], *, n_strata: int = 4) -> Strata:
    """Assigns items to strata by their value of one field.

    Numbers (``int`` or ``float``) get quantile strata: the sorted values are cut into at most
    ``n_strata`` runs of about ``n / n_strata`` items, each cut placed at the boundary between two
    distinct values nearest to an equal split of the items still unassigned. Tied values are never
    split, so a field with at most ``n_strata`` distinct values gets one stratum per value, and heavy
    ties can leave fewer than ``n_strata`` strata. Text or true/false values get one stratum per value,
    sorted (false before true); ``n_strata`` does not apply.

    Args:
        values: Each item's value, shape ``(n,)``; every value of one kind (numbers, text or booleans).
        n_strata: The most quantile strata of a numeric field.

    Returns:
        The strata in increasing order of value and each item's stratum.

    Raises:
        InputError: If there are no values, ``n_strata`` is not a positive integer, or the values mix
            kinds (numbers with text, for instance).

    Examples:
        >>> strata = stratify([5, 1, 3, 3, 9, 7, 2, 8], n_strata=4)
        >>> [stratum.label for stratum in strata.strata], strata.index.tolist()
        (['1–2', '3', '5–7', '8–9'], [2, 0, 1, 1, 3, 2, 0, 3])
        >>> [stratum.label for stratum in stratify(["law", "art", "law"]).strata]
        ['art', 'law']
    """
    if isinstance(n_strata, bool) or not isinstance(n_strata, int) or n_strata < 1:
        raise InputError(f"`n_strata` must be a positive integer; got {n_strata!r}.")
    if not values:
        raise InputError("No values to stratify.")
    kinds = {_kind(value) for value in values}
    if len(kinds) > 1:
        examples = {kind: next(value for value in values if _kind(value) == kind) for kind in sorted(kinds)}
        found = ", ".join(f"{kind} ({example!r})" for kind, example in examples.items())
        raise InputError(
            f"Strata need values of one kind; found {found}. Give every item a value of the same kind."
        )
    if kinds == {"number"}:
        return _quantile_strata(np.array(values, dtype=np.float64), n_strata)
    return _categorical_strata(values)


def _kind(value: StratumValue) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "number"
    return "text"


def _categorical_strata(values: Sequence[StratumValue]) -> Strata:
    levels = sorted(set(values))
    position = {level: index for index, level in enumerate(levels)}
    index = np.array([position[value] for value in values], dtype=np.intp)
    labels = [str(level).lower() if isinstance(level, bool) else str(level) for level in levels]
    return Strata("categorical", tuple(Stratum(label) for label in labels), index)


def _quantile_strata(values: NDArray[np.float64], n_strata: int) -> Strata:
    if not np.isfinite(values).all():
        raise InputError(f"Strata need finite numbers; found {values[~np.isfinite(values)][:3].tolist()}.")
    ordered = np.sort(values, kind="stable")
    n_items = len(ordered)
    # Cut positions i (strata end before ordered[i]) allowed only between two distinct values.
    candidates = np.flatnonzero(np.diff(ordered) > 0) + 1
    if len(candidates) < n_strata:
        bounds = [0, *candidates.tolist(), n_items]  # every distinct value its own stratum
    else:
        bounds = [0]
        for remaining_strata in range(n_strata, 1, -1):
            later = candidates[candidates > bounds[-1]]
            if not len(later):
                break
            # An equal share of the items not yet assigned; argmin takes the lower cut on a tie.
            target = bounds[-1] + (n_items - bounds[-1]) / remaining_strata
            bounds.append(int(later[np.abs(later - target).argmin()]))
        bounds.append(n_items)
    lowers = ordered[bounds[:-1]]
    uppers = ordered[np.array(bounds[1:]) - 1]
    strata = tuple(
        Stratum(label, float(low), float(high))
        for label, low, high in zip(_range_labels(lowers, uppers), lowers, uppers, strict=True)
    )
    # A value's stratum is the first whose largest value is at least it.
    index = np.searchsorted(uppers, values, side="left").astype(np.intp)
    return Strata("quantile", strata, index)


def _number_label(value: float, digits: int, *, scientific: bool) -> str:
    """``value`` in ``digits`` significant digits; in ``scientific`` notation with exactly that many.

    Examples:
        >>> _number_label(123456.0, 2, scientific=True), _number_label(30.0, 2, scientific=True)
        ('1.2e5', '3.0e1')
        >>> _number_label(3.0, 2, scientific=False), _number_label(0.125, 2, scientific=False)
        ('3', '0.12')
    """
    if scientific:
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    if value == int(value):
        return str(int(value))
    return f"{value:.{digits}g}"


def _range_labels(lowers: NDArray[np.float64], uppers: NDArray[np.float64]) -> list[str]:
    """``low–high`` per stratum, in one notation and the fewest digits (at least 2) that keep them readable.

    Every label of the set is in scientific notation when a boundary reaches 1e5 (so ``3.0e1–9.6e4`` and
    ``2.1e6–1.1e7`` read alike), plain otherwise. The digits are the fewest at which the labels are all
    distinct and no range's two ends read the same (unless they are the same value).
    """
    scientific = bool(np.abs(np.concatenate([lowers, uppers])).max() >= _SCIENTIFIC_FROM)
    labels: list[str] = []
    for digits in range(_MIN_DIGITS, _MAX_DIGITS + 1):
        labels = []
        readable = True
        for low, high in zip(lowers, uppers, strict=True):
            first, last = (_number_label(float(v), digits, scientific=scientific) for v in (low, high))
            readable &= low == high or first != last
            labels.append(first if low == high else f"{first}–{last}")
        if readable and len(set(labels)) == len(labels):
            break
    return labels


def summarize_strata(
    predictions: Predictions,
    strata: Strata,
    settings: MetricSettings = MetricSettings(),
    *,
    on_stratum_done: Callable[[str], None] | None = None,
) -> list[Summary]:
    """:func:`~llmcal.metrics.summarize` of each stratum's items: every metric with bootstrap intervals.

    Each summary is that of the predictions restricted to the stratum (:meth:`Predictions.subset`), with
    the same settings and seed, labelled ``"<source> [<stratum>]"``. ``on_stratum_done`` is called with
    each stratum's label when it is finished (for progress bars).

    Raises:
        InputError: If ``strata`` does not assign each of the predictions' items.
    """
    if len(strata.index) != predictions.n_items:
        raise InputError(
            f"{predictions.source}: strata assign {len(strata.index)} items; the predictions have "
            f"{predictions.n_items}."
        )
    summaries = []
    for position, stratum in enumerate(strata.strata):
        subset = predictions.subset(strata.rows(position), f"{predictions.source} [{stratum.label}]")
        summaries.append(summarize(subset, settings))
        if on_stratum_done is not None:
            on_stratum_done(stratum.label)
    return summaries
