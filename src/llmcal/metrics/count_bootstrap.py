r"""Bootstrap values of every catalogue metric at once, computed from resample counts.

A bootstrap resample of ``n`` items is a vector of multinomial counts, one per item, and every metric of
:data:`~llmcal.metrics.METRICS` is a function of count-weighted sums: over all items (accuracy, Brier
scores, NLL), over bins (ECE, MCE, RMS-CE, SCE; ACE and equal-mass ECE find their resample's bin edges
from chunk sums of items sorted by probability), over a grid (smooth ECE) or along the confidence order
(AUROC and the selective-prediction metrics, from one running sum of the counts in that order). A block of
resamples is a (resamples x items) matrix of counts; each family of sums is one
sparse or dense matrix product with it, nothing resampled is materialised, and every metric is computed
from the same block.

**Same resamples as the plain path.** Items are put in :func:`resampling_order` (wrong answers, then
right ones, each by increasing confidence), and resample ``b`` is ``bincount(integers(0, n, n))``, the
generator calls :func:`~llmcal.metrics.bootstrap_ci` makes. So on items in that order, each resample's
value equals the metric function's on the rows ``bootstrap_ci`` draws, up to float rounding (smooth ECE:
up to its bandwidth search's tolerance, 1e-6), and so do the intervals.

**Huge inputs** (more than :data:`EXACT_BOOTSTRAP_MAX_ITEMS` items): the bag of little bootstraps
(Kleiner, Talwalkar, Sarkar & Jordan, JRSS-B 2014). The items are split at random into ``s`` parts of
at most that many; each resample of part ``j`` gives its items multinomial counts that sum to ``n``, a
resample of full size ``n`` drawn from the part, so its spread is that of an estimate on ``n`` items;
each part's resamples are centred on their own median and the parts' deviations are pooled into one
interval (:func:`~llmcal.metrics.bootstrap.recentred_interval`). Work per resample is proportional to the
part's size instead of ``n``; point estimates are always computed on every item. For smooth statistics
(accuracy, Brier, NLL, AUROC) and clearly miscalibrated runs the intervals match the full bootstrap's
within Monte-Carlo noise. Two known departures, both from a part being a noisier sample than the whole:
calibration errors near zero get wider intervals (ECE, RMS-CE, smooth ECE ~20% wider on 1M
well-calibrated items in 4 parts), and MCE, a maximum over bins driven by its sparsest bins, narrower.

Why it is long: every metric is computed here from one block of counts, and what makes the block exact
(the resampling order, chunk sums, each resample's bin edges) is shared by all of them; split by metric,
that machinery would be exported between modules and the equivalence with the plain path checked in several.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csc_array

from llmcal.errors import CalibrationWarning, InputError
from llmcal.metrics.binning import assign_bins
from llmcal.metrics.bootstrap import check_bootstrap_options
from llmcal.metrics.catalog import METRICS
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.selective import (
    SELECTIVE_COVERAGES,
    ConfidenceGroups,
    selective_accuracy_name,
    wrong_then_right_order,
)
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.smooth_calibration import (
    MIN_BANDWIDTH,
    GridSums,
    SmoothedResiduals,
    coarsen_grid,
    fixed_point_bandwidth_near,
    grid_intervals,
    linear_binning,
    smooth_ece_bandwidth,
)

__all__ = [
    "EXACT_BOOTSTRAP_MAX_ITEMS",
    "ProgressCallback",
    "ResampledValues",
    "metric_values_of_counts",
    "resampled_changes",
    "resampled_metrics",
    "resampled_together",
    "resampling_order",
]

EXACT_BOOTSTRAP_MAX_ITEMS = 1_000_000
"""Up to this many items every resample has every item; above, the bag of little bootstraps applies.

1,000 resamples of the whole catalogue on 1M items take under a minute on 2 cores (57 s for
``llmcal metrics`` on a 1M-item file, reading included: ``benchmarks/metrics_1m.py``). The bag of little
bootstraps is faster, but on 1M well-calibrated items it widened ECE-type intervals by ~20% and it
narrows MCE's (module docstring), so it is kept for inputs beyond this size."""

# Cells (resamples x items) of one block of counts: 6M float64 cells are 48 MiB, six resamples of 1M items.
# Fewer resamples per block and the fixed costs per block dominate. More, and the temporaries over groups
# of equal confidence (about half as many cells) pass 32 MiB, beyond which glibc maps every allocation
# afresh from the kernel: measured on 1M items, 48 resamples took 2.4-2.7 s in blocks of 6M cells and
# 4.3-5.3 s in blocks of 12M (`values` of the count kernels, paired runs).
_BLOCK_CELLS = 6 << 20

# The metrics computed from the running sum along the confidence order (llmcal.metrics.selective).
_SELECTIVE = frozenset(
    {"aurc", "eaurc", "auarc", "prr", *(selective_accuracy_name(c) for c in SELECTIVE_COVERAGES)}
)

ResampledValues = dict[str, list[NDArray[np.float64]]]
"""Per metric, its value on each resample, one array per group of resamples (one group unless the bag
of little bootstraps split the items); NaN where the metric is undefined on a resample."""

ProgressCallback = Callable[[int, int], None]
"""Called with (resamples done, resamples in all) after each block of resamples."""


def resampling_order(confidences: NDArray[np.float64], correct: NDArray[np.float64]) -> NDArray[np.intp]:
    """The order items are resampled in: wrong answers, then right ones, each by increasing confidence.

    In this order AUROC's pair count is one running sum over the wrong answers, read at each right
    answer's place among them (see :meth:`_CountKernels._auroc`), and the selective-prediction metrics
    read the same running sum (:class:`~llmcal.metrics.selective.ConfidenceGroups`); the other metrics do
    not depend on it.
    """
    return wrong_then_right_order(confidences, correct)


@dataclass(frozen=True)
class _Part:
    """Items resampled together: all of them, or one part of the bag of little bootstraps."""

    rows: NDArray[np.intp]
    n_resamples: int


def _parts(
    predictions: Predictions, n_resamples: int, generator: np.random.Generator, max_exact_items: int
) -> list[_Part]:
    """The parts to resample, each in :func:`resampling_order` of ``predictions``."""
    n_items = predictions.n_items
    if n_items <= max_exact_items:
        return [_Part(resampling_order(predictions.confidences, predictions.correct), n_resamples)]
    n_parts = min(math.ceil(n_items / max_exact_items), n_resamples)
    shuffled = generator.permutation(n_items)
    parts = []
    for rows, resamples in zip(
        np.array_split(shuffled, n_parts), np.array_split(np.arange(n_resamples), n_parts), strict=True
    ):
        order = resampling_order(predictions.confidences[rows], predictions.correct[rows])
        parts.append(_Part(rows[order], len(resamples)))
    return parts


def _draw_counts(
    generator: np.random.Generator, n_rows: int, n_draws: int, out: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Multinomial counts of ``n_draws`` draws over ``n_rows`` items into ``out``, one row per resample.

    Drawn as ``bincount(integers(0, n_rows, n_draws))``: with ``n_draws == n_rows`` the rows
    :func:`~llmcal.metrics.bootstrap_ci` would draw, resample by resample. ``out`` is reused from block to
    block (fresh memory for each would cost its page faults every time).
    """
    for index in range(len(out)):
        out[index] = np.bincount(generator.integers(0, n_rows, size=n_draws), minlength=n_rows)
    return out


# Items per chunk of a sorted order. Quantiles of a resample are found among its chunk totals first, then
# among one chunk's items, so no resample needs a running sum over all of its items.
_CHUNK = 64


class _Statistics:
    """A family of count-weighted sums as a sparse (statistics x items) matrix, built block by block.

    A bin's count or residual sum, a grid node's mass, a chunk's total: each is a row, so one sparse
    product with a block of counts gives a family's statistics for every resample, reading each item's
    counts once. Stored by item (CSC), the product walks the counts in order; a family per matrix keeps
    its output small enough to stay in cache.
    """

    def __init__(self, n_items: int) -> None:
        self._n_items = n_items
        self._rows: list[NDArray[np.intp]] = []
        self._items: list[NDArray[np.intp]] = []
        self._values: list[NDArray[np.float64]] = []
        self._n_rows = 0

    def add(
        self, row: NDArray[np.intp], items: NDArray[np.intp], values: NDArray[np.float64], n_rows: int
    ) -> slice:
        """``n_rows`` statistics: item ``items[j]`` adds ``values[j]`` times its count to ``row[j]``."""
        self._rows.append(self._n_rows + row)
        self._items.append(items)
        self._values.append(values)
        added = slice(self._n_rows, self._n_rows + n_rows)
        self._n_rows += n_rows
        return added

    def matrix(self) -> Any:
        """The matrix, (statistics, items), as a ``scipy.sparse`` CSC array (duplicates summed)."""
        entries = (np.concatenate(self._rows), np.concatenate(self._items))
        return csc_array((np.concatenate(self._values), entries), shape=(self._n_rows, self._n_items))


@dataclass(frozen=True)
class _SortedItems:
    """Items sorted by one probability, for bins of equal resampled mass (ACE, ECE with quantile bins).

    Attributes:
        values: The probabilities, increasing.
        rows: Their positions among the resampled items, padded to whole chunks and one chunk more with
            the position of a never-drawn item.
        residuals: ``label - probability`` of each, padded with zeros alike.
        chunk_sums: Each chunk's count (first half of the rows) and residual sum (second half), as a
            (2 x chunks, items) matrix of :class:`_Statistics`.
    """

    values: NDArray[np.float64]
    rows: NDArray[np.intp]
    residuals: NDArray[np.float64]
    chunk_sums: Any

    @classmethod
    def of(
        cls, rows: NDArray[np.intp], values: NDArray[np.float64], residuals: NDArray[np.float64], n_items: int
    ) -> _SortedItems:
        """The items at positions ``rows`` (of ``n_items``; sorted by ``values``) and their chunk sums."""
        n_sorted = len(rows)
        n_chunks = math.ceil(n_sorted / _CHUNK)
        chunk = np.arange(n_sorted) // _CHUNK
        statistics = _Statistics(n_items)
        statistics.add(chunk, rows, np.ones(n_sorted), n_chunks)
        statistics.add(chunk, rows, residuals, n_chunks)
        padded_rows = np.full((n_chunks + 1) * _CHUNK, n_items, dtype=np.intp)  # n_items: never drawn
        padded_rows[:n_sorted] = rows
        padded_residuals = np.zeros((n_chunks + 1) * _CHUNK)
        padded_residuals[:n_sorted] = residuals
        return cls(values, padded_rows, padded_residuals, statistics.matrix())


def _numpy_lerp(
    low: NDArray[np.float64], high: NDArray[np.float64], share: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Linear interpolation as ``np.quantile`` does it (``numpy.lib._function_base_impl._lerp``)."""
    difference = high - low
    return np.where(share >= 0.5, high - difference * (1.0 - share), low + difference * share)


def _before_chunk(cumulative: NDArray[np.float64], chunk: NDArray[np.intp]) -> NDArray[np.float64]:
    """``cumulative[b, chunk - 1]``: the running total of the chunks before ``chunk`` (0 before the first)."""
    previous = np.take_along_axis(cumulative, np.maximum(chunk - 1, 0), axis=1)
    return np.where(chunk > 0, previous, 0.0)


def _within_chunks(
    items: _SortedItems, counts: NDArray[np.float64], chunk: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """The counts of each chunk's items, (resamples, k, chunk size), and their positions in ``items``."""
    positions = chunk[..., None] * _CHUNK + np.arange(_CHUNK)
    resample = np.arange(len(chunk))[:, None, None]
    return counts[items.rows[positions], resample], positions


def _positions_of_ranks(
    items: _SortedItems,
    counts: NDArray[np.float64],
    cumulative_counts: NDArray[np.float64],
    ranks: NDArray[np.float64],
) -> NDArray[np.intp]:
    """Where among ``items`` each resample's ``j``-th smallest draw is, for ``j`` in ``ranks[b]``."""
    chunk = np.stack(
        [
            np.searchsorted(totals, wanted, side="right")
            for totals, wanted in zip(cumulative_counts, ranks, strict=True)
        ]
    )
    local, _ = _within_chunks(items, counts, chunk)
    running = _before_chunk(cumulative_counts, chunk)[..., None] + np.cumsum(local, axis=-1)
    offset = (running <= ranks[..., None]).sum(axis=-1)
    return np.asarray(np.minimum(chunk * _CHUNK + offset, len(items.values) - 1), dtype=np.intp)


def _prefix_sums(
    items: _SortedItems,
    counts: NDArray[np.float64],
    cumulative: NDArray[np.float64],
    bounds: NDArray[np.intp],
    weights: NDArray[np.float64] | None,
) -> NDArray[np.float64]:
    """Each resample's sum of ``count * weight`` over the items before each of its ``bounds``."""
    chunk, offset = np.divmod(bounds, _CHUNK)
    local, positions = _within_chunks(items, counts, chunk)
    if weights is not None:
        local = local * weights[positions]
    partial = np.where(np.arange(_CHUNK) < offset[..., None], local, 0.0).sum(axis=-1)
    return np.asarray(_before_chunk(cumulative, chunk) + partial, dtype=np.float64)


def _equal_mass_bin_sums(
    items: _SortedItems, counts: NDArray[np.float64], n_bins: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each resample's count and residual sum in each of its own equal-mass bins, (resamples, n_bins).

    The bins are ``bin_edges(resampled values, n_bins, "quantile")``: ``np.quantile``'s default method
    interpolates between the resample's order statistics, found from its chunk totals and then among one
    chunk's items; bins are then ``(e_b, e_{b+1}]`` as :func:`~llmcal.metrics.binning.assign_bins` makes them.

    Args:
        items: The items in increasing order of the binned value.
        counts: Item counts, (items + 1 or more, resamples), rows past the items (never drawn) zero.
        n_bins: Bins per resample.
    """
    chunk_counts, chunk_residuals = np.split(items.chunk_sums @ counts[: items.chunk_sums.shape[1]], 2)
    cumulative_counts = np.cumsum(chunk_counts.T, axis=1)
    cumulative_residuals = np.cumsum(chunk_residuals.T, axis=1)
    totals = cumulative_counts[:, -1:]
    virtual = (totals - 1.0) * np.linspace(0.0, 1.0, n_bins + 1)
    previous = np.floor(virtual)
    last = np.maximum(totals - 1.0, 0.0)
    at_end = virtual >= last
    ranks = np.concatenate([np.where(at_end, last, previous), np.where(at_end, last, previous + 1.0)], axis=1)
    picked = items.values[_positions_of_ranks(items, counts, cumulative_counts, ranks)]
    edges = _numpy_lerp(picked[:, : n_bins + 1], picked[:, n_bins + 1 :], virtual - previous)
    edges = np.maximum.accumulate(edges, axis=1)
    bounds = np.searchsorted(items.values, edges[:, 1:-1], side="right")
    zero = np.zeros_like(totals)
    count_prefix = _prefix_sums(items, counts, cumulative_counts, bounds, None)
    residual_prefix = _prefix_sums(items, counts, cumulative_residuals, bounds, items.residuals)
    bin_counts = np.diff(np.concatenate([zero, count_prefix, totals], axis=1), axis=1)
    bin_residuals = np.diff(
        np.concatenate([zero, residual_prefix, cumulative_residuals[:, -1:]], axis=1), axis=1
    )
    return bin_counts, bin_residuals


@dataclass(frozen=True)
class _SmoothGrid:
    """What smooth ECE needs of each resample: the search's start and its sums on a fine grid.

    Attributes:
        start: The fixed point on all the resampled items, where each resample's search starts.
        intervals: The fine grid's intervals.
        sums: Mass (first ``intervals + 1`` rows) and residual sums on the fine grid, a
            :class:`_Statistics` matrix.
    """

    start: float
    intervals: int
    sums: Any


class _CountKernels:
    """Every catalogue metric of some items of one set of predictions, from resample counts over them.

    Args:
        predictions: The predictions.
        rows: The items resampled, in the order the counts come in (the primary predictions'
            :func:`resampling_order`; a second run of the same items, paired, has its own order).
        names: The metrics wanted.
        settings: Binning of the binned metrics.
    """

    def __init__(
        self, predictions: Predictions, rows: NDArray[np.intp], names: Sequence[str], settings: MetricSettings
    ) -> None:
        self._names = list(names)
        self._settings = settings
        self._predictions, self._rows = predictions, rows
        n_items = len(rows)
        self._n_items = n_items
        self._c, self._y = predictions.confidences[rows], predictions.correct[rows]
        order = resampling_order(self._c, self._y)
        # Counts arrive in `rows` order; AUROC needs them in this run's resampling order (for a second
        # run of the same items, paired, the two orders differ).
        self._to_resampling_order = None if np.array_equal(order, np.arange(n_items)) else order
        wanted = set(self._names)
        columns = [self._y, (self._c - self._y) ** 2]
        self._top_bins: Any = None
        self._top_sorted: _SortedItems | None = None
        if wanted & {"ece", "mce", "rms_ce"}:
            if settings.strategy == "uniform":
                index = assign_bins(self._c, np.linspace(0.0, 1.0, settings.n_bins + 1))
                bins = _Statistics(n_items)
                bins.add(index, np.arange(n_items), np.ones(n_items), settings.n_bins)
                bins.add(index, np.arange(n_items), self._y - self._c, settings.n_bins)
                self._top_bins = bins.matrix()
            else:
                by_confidence = np.argsort(self._c, kind="stable")
                residuals = (self._y - self._c)[by_confidence]
                self._top_sorted = _SortedItems.of(by_confidence, self._c[by_confidence], residuals, n_items)
        ranked = self._c[order], self._y[order]  # AUROC and the selective metrics read counts in this order
        self._ranks = _RanksAmongWrong.of(*ranked) if "auroc" in wanted else None
        self._confidence_groups = ConfidenceGroups.of(*ranked) if wanted & _SELECTIVE else None
        self._smooth = self._smooth_grid() if "smooth_ece" in wanted else None
        self._static_bins: Any = None
        self._adaptive_items: list[_SortedItems] = []
        if predictions.probs is not None and predictions.labels is not None:
            columns += self._probability_statistics(predictions.probs[rows], predictions.labels[rows])
        self._dense = np.column_stack(columns)
        self._buffers: dict[tuple[str, tuple[int, ...]], NDArray[np.float64]] = {}

    def _probability_statistics(
        self, probs: NDArray[np.float64], labels: NDArray[np.intp]
    ) -> list[NDArray[np.float64]]:
        """Prepares SCE's and ACE's sums; returns the per-item Brier and NLL terms and option counts."""
        run = self._predictions
        mask = (
            np.ones(probs.shape, dtype=np.bool_) if run.option_mask is None else run.option_mask[self._rows]
        )
        wanted = set(self._names)
        uniform = np.linspace(0.0, 1.0, self._settings.n_bins + 1)
        static = _Statistics(len(probs))
        for option in range(probs.shape[1]):
            present = np.flatnonzero(mask[:, option])
            if not len(present):
                continue
            column = probs[present, option]
            residual = (labels[present] == option) - column
            # SCE's bins of option k are fixed (equal width): rows of sums, one per (k, bin).
            static.add(assign_bins(column, uniform), present, residual, self._settings.n_bins)
            if "ace" in wanted:
                by_value = np.argsort(column, kind="stable")
                self._adaptive_items.append(
                    _SortedItems.of(present[by_value], column[by_value], residual[by_value], len(probs))
                )
        if "sce" in wanted:
            self._static_bins = static.matrix()
        gold = probs[np.arange(len(probs)), labels]
        # The per-item terms of brier() and nll(), in their arithmetic.
        return [
            np.einsum("ij,ij->i", probs, probs) - 2.0 * gold + 1.0,
            -np.log(np.clip(gold, np.finfo(np.float64).eps, 1.0)),
            mask.sum(axis=1).astype(np.float64),
        ]

    def _smooth_grid(self) -> _SmoothGrid:
        """Each resample's sums on a fine grid, one sparse product: linear binning is linear in counts."""
        start = smooth_ece_bandwidth(self._c, self._y)
        # Resampled fixed points lie near this one; the fine grid serves bandwidths down to half of it,
        # coarser grids are exact coarsenings of it, and a finer one is binned directly when asked for.
        intervals = grid_intervals(max(start / 2.0, MIN_BANDWIDTH))
        position = self._c * intervals
        left = np.minimum(position.astype(np.intp), intervals - 1)
        right_share = position - left
        shares = np.r_[1.0 - right_share, right_share]
        nodes = np.r_[left, left + 1]
        items = np.tile(np.arange(self._n_items), 2)
        residual = self._c - self._y
        grid = _Statistics(self._n_items)
        grid.add(nodes, items, shares, intervals + 1)
        grid.add(nodes, items, shares * np.r_[residual, residual], intervals + 1)
        return _SmoothGrid(start, intervals, grid.matrix())

    def _arrays_of(
        self, inputs: str
    ) -> tuple[NDArray[np.float64] | NDArray[np.intp] | NDArray[np.bool_], ...]:
        """The metric's arrays of the resampled items, in the order the counts come in."""
        run, rows = self._predictions, self._rows
        if inputs == "top_label":
            return run.confidences[rows], run.correct[rows]
        assert run.probs is not None
        assert run.labels is not None
        mask = np.ones(run.probs.shape, dtype=np.bool_) if run.option_mask is None else run.option_mask
        return run.probs[rows], run.labels[rows], mask[rows]

    def values(self, counts: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Each wanted metric on each resample; ``counts`` has one row of item counts per resample."""
        n_resamples, n_items = counts.shape
        # Items down the rows, resamples across: the sparse products walk items in order. Rows past the
        # items are never drawn; they pad sorted orders to whole chunks.
        by_item = self._zeroed_once("by item", (math.ceil(n_items / _CHUNK) * _CHUNK + 1, n_resamples))
        by_item[:n_items] = counts.T
        items = by_item[:n_items]
        dense = counts @ self._dense
        totals = counts.sum(axis=1)
        wanted = set(self._names)
        values = {"accuracy": dense[:, 0] / totals, "top_brier": dense[:, 1] / totals}
        if self._top_bins is not None:
            bin_counts, gaps = np.split((self._top_bins @ items).T, 2, axis=1)
            values.update(_top_label_errors(bin_counts, gaps, totals))
        if self._top_sorted is not None:
            bin_counts, gaps = _equal_mass_bin_sums(self._top_sorted, by_item, self._settings.n_bins)
            values.update(_top_label_errors(bin_counts, gaps, totals))
        if self._ranks is not None or self._confidence_groups is not None:
            ordered = counts if self._to_resampling_order is None else counts[:, self._to_resampling_order]
            # Running totals of the counts in this run's resampling order, shared by both kernels.
            cumulative = self._zeroed_once("running totals", (n_resamples, n_items + 1))
            np.cumsum(ordered, axis=1, out=cumulative[:, 1:])
        if self._ranks is not None:
            values["auroc"] = self._auroc(ordered, cumulative, totals, self._ranks)
        if self._confidence_groups is not None:
            selective = self._confidence_groups.values(cumulative, SELECTIVE_COVERAGES)
            values.update({name: selective[name] for name in ("aurc", "eaurc", "auarc", "prr")})
            for coverage in SELECTIVE_COVERAGES:
                values[selective_accuracy_name(coverage)] = selective[f"coverage:{coverage}"]
        if self._smooth is not None:
            values["smooth_ece"] = self._smooth_ece(counts, self._smooth.sums @ items, self._smooth)
        if dense.shape[1] > 2:
            values["brier"], values["nll"] = dense[:, 2] / totals, dense[:, 3] / totals
            options = dense[:, 4]
            if self._static_bins is not None:
                values["sce"] = np.abs(self._static_bins @ items).sum(axis=0) / options
            adaptive = np.zeros(n_resamples)
            for sorted_items in self._adaptive_items:
                _, residual_sums = _equal_mass_bin_sums(sorted_items, by_item, self._settings.n_bins)
                adaptive += np.abs(residual_sums).sum(axis=1)
            values["ace"] = adaptive / options
        for name in wanted - values.keys():
            values[name] = self._materialised(name, counts)
        return {name: values[name] for name in self._names}

    def _zeroed_once(self, name: str, shape: tuple[int, ...]) -> NDArray[np.float64]:
        """A work array made (zeroed) once per shape and reused by every block of resamples.

        Each block overwrites the same cells (the zeros it relies on are never written), and reusing the
        memory spares the page faults of fresh tens of MiB per block, as costly as the arithmetic.
        """
        key = (name, shape)
        if key not in self._buffers:
            self._buffers[key] = np.zeros(shape)
        return self._buffers[key]

    def _materialised(self, name: str, counts: NDArray[np.float64]) -> NDArray[np.float64]:
        """A metric without a count kernel: the metric function on each resample's rows, drawn out."""
        spec = METRICS.get(name)
        arrays = self._arrays_of(spec.inputs)
        results = np.empty(len(counts))
        for resample, row_counts in enumerate(counts):
            drawn = np.repeat(np.arange(len(row_counts)), row_counts.astype(np.intp))
            results[resample] = spec.function(
                *(array[drawn] for array in arrays), **self._settings.metric_kwargs(name)
            )
        return results

    def _auroc(
        self,
        ordered: NDArray[np.float64],
        cumulative: NDArray[np.float64],
        totals: NDArray[np.float64],
        ranks: _RanksAmongWrong,
    ) -> NDArray[np.float64]:
        """Mann-Whitney U / (right x wrong), ties counting one half, as :func:`~llmcal.metrics.auroc`.

        With the wrong answers first, by increasing confidence, a running sum of their counts read at a
        right answer's place among them counts the wrong answers less confident than it; read at both
        ends of the wrong answers tied with it and averaged, ties count one half.

        Args:
            ordered: The counts in this run's resampling order.
            cumulative: Their running totals, a leading zero first.
            totals: Each resample's item count.
            ranks: Where the right answers fall among the wrong ones.
        """
        n_wrong = ranks.n_wrong
        right_counts = ordered[:, n_wrong:]
        wrong_before = cumulative[:, : n_wrong + 1]
        pairs = np.einsum("bi,bi->b", right_counts, wrong_before[:, ranks.below])
        if ranks.tied is not None:
            positions, at_or_below = ranks.tied
            tied = wrong_before[:, at_or_below] - wrong_before[:, ranks.below[positions]]
            pairs += 0.5 * np.einsum("bi,bi->b", right_counts[:, positions], tied)
        right = cumulative[:, -1] - cumulative[:, n_wrong]
        wrong = totals - right
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((right > 0) & (wrong > 0), pairs / (right * wrong), np.nan)

    def _smooth_ece(
        self, counts: NDArray[np.float64], sums: NDArray[np.float64], smooth: _SmoothGrid
    ) -> NDArray[np.float64]:
        """Smooth ECE of each resample: its fine grid's sums, then its own bandwidth search."""
        masses, residuals = np.split(sums, 2)
        results = np.empty(len(counts))
        for resample in range(len(counts)):
            grid = self._grid_of_resample(
                masses[:, resample], residuals[:, resample], smooth, counts[resample]
            )
            smoothed = SmoothedResiduals(grid)
            results[resample] = smoothed.error(fixed_point_bandwidth_near(smoothed, smooth.start))
        return results

    def _grid_of_resample(
        self,
        mass: NDArray[np.float64],
        residual: NDArray[np.float64],
        smooth: _SmoothGrid,
        counts: NDArray[np.float64],
    ) -> Callable[[int], GridSums]:
        def grid(wanted: int) -> GridSums:
            if wanted > smooth.intervals:  # finer than the fine grid: bin this resample directly
                return linear_binning(self._c, self._c - self._y, wanted, counts)
            sums, size = np.stack([mass, residual]), smooth.intervals
            while size > wanted:
                sums, size = coarsen_grid(sums), size // 2
            return sums[0], sums[1]

        return grid


@dataclass(frozen=True)
class _RanksAmongWrong:
    """Where each right answer falls among the wrong ones by confidence: what AUROC needs.

    Attributes:
        n_wrong: Wrong answers, the first items in resampling order.
        below: For each right answer, how many wrong answers are less confident.
        tied: The right answers tied in confidence with some wrong ones (their positions among the right
            answers) and how many wrong answers are at most as confident as each; ``None`` if none is.
    """

    n_wrong: int
    below: NDArray[np.intp]
    tied: tuple[NDArray[np.intp], NDArray[np.intp]] | None

    @classmethod
    def of(cls, confidences: NDArray[np.float64], correct: NDArray[np.float64]) -> _RanksAmongWrong:
        """From confidences and correctness in :func:`resampling_order`."""
        n_wrong = int(np.count_nonzero(correct == 0.0))
        wrong, right = confidences[:n_wrong], confidences[n_wrong:]
        below = np.searchsorted(wrong, right, side="left").astype(np.intp)
        at_or_below = np.searchsorted(wrong, right, side="right").astype(np.intp)
        positions = np.flatnonzero(at_or_below > below).astype(np.intp)
        return cls(n_wrong, below, (positions, at_or_below[positions]) if len(positions) else None)


def _top_label_errors(
    bin_counts: NDArray[np.float64], gaps: NDArray[np.float64], totals: NDArray[np.float64]
) -> dict[str, NDArray[np.float64]]:
    """ECE, MCE and RMS-CE of each resample from its bins' counts and ``sum(correct - confidence)``."""
    filled = bin_counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        per_item = np.where(filled, gaps**2 / bin_counts, 0.0)
        relative = np.where(filled, np.abs(gaps) / bin_counts, -np.inf)
    return {
        "ece": np.abs(gaps).sum(axis=1) / totals,
        "mce": relative.max(axis=1),
        "rms_ce": np.sqrt(per_item.sum(axis=1) / totals),
    }


def metric_values_of_counts(
    predictions: Predictions, names: Sequence[str], settings: MetricSettings, counts: NDArray[np.float64]
) -> dict[str, NDArray[np.float64]]:
    """Each metric of ``names`` on each resample ``counts`` describes, items in :func:`resampling_order`.

    ``counts[b, i]`` is how often resample ``b`` draws the ``i``-th item in that order. The building block
    of :func:`resampled_metrics`, exposed so tests can check it against the metric functions on the
    materialised resamples.
    """
    rows = resampling_order(predictions.confidences, predictions.correct)
    return _CountKernels(predictions, rows, _checked_names(predictions, names), settings).values(counts)


def _checked_names(predictions: Predictions, names: Sequence[str]) -> list[str]:
    """``names``, checked to be catalogue metrics these predictions support.

    Raises:
        InputError: If a name is not a registered metric, or needs probabilities the predictions lack.
    """
    for name in names:
        if METRICS.get(name).inputs == "probabilities" and predictions.probs is None:
            raise InputError(
                f"metric {name!r} needs per-option probabilities and gold labels; {predictions.source} has "
                "only top-label confidences. Choose a top-label metric (see `applicable_metrics`)."
            )
    return list(names)


def _resampled(
    runs: Sequence[Predictions],
    names: Sequence[str],
    settings: MetricSettings,
    on_progress: ProgressCallback | None,
    max_exact_items: int | None,
) -> list[ResampledValues]:
    """Each metric of each run on the same resamples of their items (runs of the same items, paired)."""
    check_bootstrap_options(settings.n_resamples, settings.level)
    if runs[0].n_items == 0:
        raise InputError(
            f"{runs[0].source} has no items to resample; a bootstrap interval needs at least one. "
            "Leave out predictions of no items (summarize gives them NaN intervals)."
        )
    for run in runs:
        names = _checked_names(run, names)
    generator = np.random.default_rng(settings.seed)
    n_items = runs[0].n_items
    limit = EXACT_BOOTSTRAP_MAX_ITEMS if max_exact_items is None else max_exact_items
    parts = _parts(runs[0], settings.n_resamples, generator, limit)
    results: list[ResampledValues] = [{name: [] for name in names} for _ in runs]
    done = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        for part in parts:
            kernels = [_CountKernels(run, part.rows, names, settings) for run in runs]
            block = max(1, min(part.n_resamples, _BLOCK_CELLS // len(part.rows)))
            collected: list[dict[str, list[NDArray[np.float64]]]] = [
                {name: [] for name in names} for _ in runs
            ]
            drawn = np.empty((block, len(part.rows)))
            for first in range(0, part.n_resamples, block):
                size = min(block, part.n_resamples - first)
                counts = _draw_counts(generator, len(part.rows), n_items, drawn[:size])
                for kernel, store in zip(kernels, collected, strict=True):
                    for name, values in kernel.values(counts).items():
                        store[name].append(values)
                done += size
                if on_progress is not None:
                    on_progress(done, settings.n_resamples)
            for result, store in zip(results, collected, strict=True):
                for name in names:
                    result[name].append(np.concatenate(store[name]))
    return results


def resampled_metrics(
    predictions: Predictions,
    names: Sequence[str],
    settings: MetricSettings = MetricSettings(),
    *,
    on_progress: ProgressCallback | None = None,
    max_exact_items: int | None = None,
) -> ResampledValues:
    """Each catalogue metric of ``names`` on ``settings.n_resamples`` bootstrap resamples of ``predictions``.

    Args:
        predictions: At least one item.
        names: Names from :data:`~llmcal.metrics.METRICS` these predictions support.
        settings: Binning, resample count and seed.
        on_progress: Called with (resamples done, resamples in all) after each block of resamples.
        max_exact_items: Above this many items, the bag of little bootstraps (module docstring); ``None``:
            :data:`EXACT_BOOTSTRAP_MAX_ITEMS`.

    Raises:
        InputError: If there are no items, a metric is unknown or needs option probabilities the
            predictions lack, or the resample count or level is out of range.
    """
    return _resampled([predictions], names, settings, on_progress, max_exact_items)[0]


def resampled_together(
    runs: Sequence[Predictions], names: Sequence[str], settings: MetricSettings = MetricSettings()
) -> list[ResampledValues]:
    """Each metric of each run on the same resamples: runs of the same items, in the same order, paired.

    What :func:`resampled_changes` does for two runs, for any number (e.g. a base and a fine-tuned model
    under several seeds, all on one test set).

    Raises:
        InputError: As :func:`resampled_metrics`, or if the runs hold different numbers of items.
    """
    if not runs:
        raise InputError("No runs to resample.")
    if len({run.n_items for run in runs}) > 1:
        counts = ", ".join(f"{run.source or 'run'}: {run.n_items}" for run in runs)
        raise InputError(f"Paired resamples need the same items in every run; got {counts}.")
    return _resampled(list(runs), names, settings, None, None)


def resampled_changes(
    base: Predictions,
    aligned: Predictions,
    names: Sequence[str],
    settings: MetricSettings = MetricSettings(),
    *,
    on_progress: ProgressCallback | None = None,
    max_exact_items: int | None = None,
) -> ResampledValues:
    """``metric(aligned) - metric(base)`` on each paired resample: items drawn once, both runs scored on them.

    Arguments as in :func:`resampled_metrics`; ``base`` and ``aligned`` hold the same items in the same order.
    """
    before, after = _resampled([base, aligned], names, settings, on_progress, max_exact_items)
    return {
        name: [later - earlier for earlier, later in zip(before[name], after[name], strict=True)]
        for name in before
    }
