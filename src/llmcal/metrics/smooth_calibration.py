r"""Smooth ECE (Błasiok & Nakkiran, 2023): a binning-free, consistent calibration error.

The residuals :math:`r_i = c_i - y_i` are smoothed with a Gaussian kernel of bandwidth :math:`\sigma`
reflected at 0 and 1, giving a smoothed residual :math:`\hat r(t)` and a smoothed density :math:`\hat d(t)`;
:math:`\mathrm{smECE}_\sigma = \int |\hat r(t)|\,dt \,/ \int \hat d(t)\,dt`. The bandwidth is chosen
automatically as the fixed point :math:`\mathrm{smECE}_{\sigma^*} = \sigma^*`, which exists because
:math:`\mathrm{smECE}_\sigma` decreases in :math:`\sigma`.

Speed: items are spread onto a uniform grid once (linear binning, O(n)); every bandwidth tried afterwards
costs one FFT convolution on the grid, independent of n. Grids and their FFTs are reused across
bandwidths.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.fft import next_fast_len
from scipy.optimize import brentq

from llmcal.errors import InputError
from llmcal.metrics.binning import weighted_counts
from llmcal.metrics.validation import as_confidences, as_correct

__all__ = [
    "MIN_BANDWIDTH",
    "GridSums",
    "SmoothedResiduals",
    "coarsen_grid",
    "fixed_point_bandwidth",
    "fixed_point_bandwidth_near",
    "grid_intervals",
    "linear_binning",
    "smooth_ece",
    "smooth_ece_bandwidth",
]

# The fixed-point search stops below this bandwidth: smaller kernels need grids too fine to matter for
# any real sample size (relplot uses the same floor).
MIN_BANDWIDTH = 1e-3
# At least this many grid intervals per bandwidth, so discretisation error is far below the reported
# precision; grid sizes are powers of two so bisection steps share them.
_GRID_POINTS_PER_BANDWIDTH = 20
_MIN_GRID_INTERVALS = 1024
# The kernel is cut off at |offset| = 0.5, as in the authors' reference implementation (relplot). It
# only matters for very miscalibrated samples (sigma* > 0.15), where a full-width kernel would report up
# to ~0.003 more than the published implementation; matching it keeps numbers comparable across tools.
_KERNEL_HALF_WIDTH = 0.5
# Past 38.6 bandwidths the Gaussian underflows to exactly 0.0 in float64, and a grid has fewer than 40
# nodes per bandwidth (it is the smallest power of 2 with 20), so beyond 39 * 40 nodes the kernel is
# exactly zero: cutting it there changes no value, only the FFT's length (4x shorter on fine grids).
_NONZERO_KERNEL_NODES = 39 * 2 * _GRID_POINTS_PER_BANDWIDTH


GridSums = tuple[NDArray[np.float64], NDArray[np.float64]]
"""Mass and residual sums on the ``intervals + 1`` nodes of a uniform grid over [0, 1]."""


def grid_intervals(bandwidth: float) -> int:
    """Grid intervals at ``bandwidth``: 20 per bandwidth, at least 1024, rounded up to a power of 2."""
    wanted = max(_MIN_GRID_INTERVALS, math.ceil(_GRID_POINTS_PER_BANDWIDTH / bandwidth))
    return 1 << (wanted - 1).bit_length()


def _kernel_half_nodes(intervals: int) -> int:
    """Grid nodes on each side of the kernel's centre: up to 0.5 (relplot's cut), no more than are nonzero."""
    return min(int(intervals * _KERNEL_HALF_WIDTH), _NONZERO_KERNEL_NODES)


def linear_binning(
    confidences: NDArray[np.float64],
    residuals: NDArray[np.float64],
    intervals: int,
    weights: NDArray[np.float64] | None = None,
) -> GridSums:
    """Mass and residual sums on ``intervals + 1`` grid nodes, each item split between its two nodes.

    ``weights`` (e.g. an item's count in a bootstrap resample) multiplies each item's share; ``None``
    counts every item once.
    """
    position = confidences * intervals
    left = np.minimum(position.astype(np.intp), intervals - 1)
    right_share = position - left
    nodes = intervals + 1
    left_share = 1.0 - right_share
    if weights is not None:
        left_share = left_share * weights
        right_share = right_share * weights
    mass = weighted_counts(left, left_share, nodes) + weighted_counts(left + 1, right_share, nodes)
    residual = weighted_counts(left, left_share * residuals, nodes) + weighted_counts(
        left + 1, right_share * residuals, nodes
    )
    return mass, residual


def coarsen_grid(sums: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sums on a grid of half as many intervals, from sums on ``2G + 1`` nodes (any leading axes).

    Exact for linear binning: a coarse node's hat function is 1/2, 1, 1/2 at its three fine neighbours,
    and piecewise linear between fine nodes, so it is the fine hats' combination with those weights.
    """
    coarse = sums[..., ::2].copy()
    halves = 0.5 * sums[..., 1::2]
    coarse[..., :-1] += halves
    coarse[..., 1:] += halves
    return coarse


class SmoothedResiduals:
    """Evaluates smECE_sigma of one sample at any bandwidth, from its grid sums at the grid sizes needed.

    Args:
        grid: Returns the sample's :data:`GridSums` for a number of intervals (a power of 2); called once
            per size, the result is kept.
    """

    def __init__(self, grid: Callable[[int], GridSums]) -> None:
        self._make_grid = grid
        self._spectra: dict[int, tuple[NDArray[np.complex128], int]] = {}
        self._errors: dict[float, float] = {}

    @classmethod
    def of_sample(cls, confidences: NDArray[np.float64], correct: NDArray[np.float64]) -> SmoothedResiduals:
        """The evaluator of validated confidences and correctness, binned onto grids as they are needed."""
        residuals = confidences - correct
        return cls(lambda intervals: linear_binning(confidences, residuals, intervals))

    def _spectrum(self, intervals: int) -> tuple[NDArray[np.complex128], int]:
        """The FFT of the grid sums, reflected about 0 and 1, and its length; once per grid size."""
        if intervals not in self._spectra:
            mass, residual = self._make_grid(intervals)
            half = _kernel_half_nodes(intervals)
            # Reflecting the data about 0 and 1 (without repeating the boundary node) is the same as
            # reflecting the kernel, and keeps the smoothed density from leaking out of [0, 1].
            padded = np.pad(np.stack([mass, residual]), ((0, 0), (half, half)), mode="reflect")
            # A circular convolution as long as the padded data is exact on the nodes that matter (those
            # the whole kernel covers, overlap-save), so the FFT need not hold the full linear convolution.
            length = next_fast_len(padded.shape[1], real=True)
            self._spectra[intervals] = (np.fft.rfft(padded, length, axis=1), length)
        return self._spectra[intervals]

    def error(self, bandwidth: float) -> float:
        """SmECE at a fixed bandwidth (memoised: the bandwidth search revisits bracket ends)."""
        if bandwidth not in self._errors:
            self._errors[bandwidth] = self._error(bandwidth)
        return self._errors[bandwidth]

    def _error(self, bandwidth: float) -> float:
        intervals = grid_intervals(bandwidth)
        spectrum, length = self._spectrum(intervals)
        half = _kernel_half_nodes(intervals)
        offsets = np.arange(-half, half + 1) / intervals
        kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2)
        convolved = np.fft.irfft(spectrum * np.fft.rfft(kernel, length), length, axis=1)
        # The grid's nodes: where the kernel, centred on them, lies wholly inside the padded data.
        smoothed_mass, smoothed_residual = convolved[:, 2 * half : 2 * half + intervals + 1]
        # Trapezoid weights make both sums integrals over [0, 1]; the kernel's scale cancels in the ratio.
        weights = np.ones(intervals + 1)
        weights[[0, -1]] = 0.5
        density = np.maximum(smoothed_mass, 0.0) @ weights  # FFT round-off can dip a hair below zero
        return float(np.abs(smoothed_residual) @ weights / density)


def fixed_point_bandwidth(smoothed: SmoothedResiduals) -> float:
    """The sigma with smECE_sigma = sigma, by Brent's method on a sign-changing bracket.

    In exact arithmetic s(sigma) = smECE_sigma decreases, so [s(1), s(s(1))] brackets the fixed point:
    at lo = s(1), s(lo) >= s(1) = lo; at hi = s(lo), s(hi) <= s(lo) = hi. That narrow bracket keeps the
    search away from tiny bandwidths, whose fine grids are the expensive part. Discretisation can break
    monotonicity slightly; then the bracket is widened downwards by halving until the sign changes.
    """

    def excess(bandwidth: float) -> float:
        return smoothed.error(bandwidth) - bandwidth

    at_one = excess(1.0)
    if at_one >= 0.0:
        return 1.0
    lo = max(at_one + 1.0, MIN_BANDWIDTH)
    excess_lo = excess(lo)
    if excess_lo > 0.0:
        hi = min(lo + excess_lo, 1.0)
        if excess(hi) <= 0.0:
            return float(brentq(excess, lo, hi, xtol=1e-6))
        hi = 1.0
    else:
        hi = lo
    while excess(lo) < 0.0:
        if lo <= MIN_BANDWIDTH:
            return MIN_BANDWIDTH
        hi, lo = lo, max(lo / 2.0, MIN_BANDWIDTH)
    return float(brentq(excess, lo, hi, xtol=1e-6))


def fixed_point_bandwidth_near(smoothed: SmoothedResiduals, start: float) -> float:
    """:func:`fixed_point_bandwidth`, searched from a bandwidth expected near the fixed point.

    A bootstrap resample's fixed point lies near the full sample's. With s decreasing, ``start`` and
    ``s(start)`` bracket it (the argument of :func:`fixed_point_bandwidth`, one step later), so Brent's
    method starts from a bracket a few percent wide, on the grids near the answer, instead of from
    s(1), whose tiny bandwidth needs the finest grid. Where that bracket fails (discretisation broke
    monotonicity, or it touches the search's limits) the full search runs. Either way the result is
    the fixed point to Brent's tolerance, 1e-6.
    """

    def excess(bandwidth: float) -> float:
        return smoothed.error(bandwidth) - bandwidth

    if MIN_BANDWIDTH < start < 1.0:
        image = smoothed.error(start)
        if image == start:
            return start
        lo, hi = min(start, image), max(start, image)
        if lo > MIN_BANDWIDTH and hi < 1.0 and excess(lo) >= 0.0 >= excess(hi):
            return float(brentq(excess, lo, hi, xtol=1e-6))
    return fixed_point_bandwidth(smoothed)


def smooth_ece_bandwidth(confidences: ArrayLike, correct: ArrayLike) -> float:
    """The automatically chosen kernel bandwidth sigma* used by :func:`smooth_ece`.

    Arguments as in :func:`smooth_ece`.
    """
    c = as_confidences(confidences)
    y = as_correct(correct, len(c))
    return fixed_point_bandwidth(SmoothedResiduals.of_sample(c, y))


def smooth_ece(confidences: ArrayLike, correct: ArrayLike, *, bandwidth: float | None = None) -> float:
    """Smooth ECE with a reflected Gaussian kernel.

    Args:
        confidences: Confidence in the predicted option, shape ``(n,)``, in [0, 1].
        correct: 1 where the prediction was right, shape ``(n,)``.
        bandwidth: Kernel bandwidth sigma. ``None`` (default) picks the fixed point
            ``smECE_sigma = sigma`` as the paper prescribes; pass a number to compare at a fixed scale.

    Returns:
        The smooth ECE, in [0, 1]. Agrees with ``relplot.smECE`` to within 1e-3.

    Raises:
        InputError: On malformed inputs or a bandwidth outside (0, 1].

    References:
        Błasiok & Nakkiran, "Smooth ECE: Principled Reliability Diagrams via Kernel Smoothing", ICLR 2024.

    Examples:
        >>> round(smooth_ece([0.9] * 10, [1] * 9 + [0]), 3)
        0.0
    """
    c = as_confidences(confidences)
    y = as_correct(correct, len(c))
    smoothed = SmoothedResiduals.of_sample(c, y)
    if bandwidth is None:
        bandwidth = fixed_point_bandwidth(smoothed)
    elif not 0.0 < bandwidth <= 1.0:
        raise InputError(f"`bandwidth` must be in (0, 1]; got {bandwidth!r}.")
    return smoothed.error(bandwidth)
