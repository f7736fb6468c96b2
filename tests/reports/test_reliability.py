"""The reliability diagram: whiskers around each bin's accuracy only, sparse bins marked, counts kept."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from llmcal.metrics import reliability_bins
from llmcal.reports.reliability import SPARSE_BIN_ITEMS, StratumPanel, plot_reliability, strata_figure

# Bin 0.0-0.2 holds one wrong answer; 0.6-0.8 holds 30 answers, 21 right; 0.8-1.0 holds 4, all right.
CONFIDENCES = np.array([0.1] + [0.7] * 30 + [0.9] * 4)
CORRECT = np.array([0.0] + [1.0] * 21 + [0.0] * 9 + [1.0] * 4)


def _drawn():
    bins = reliability_bins(CONFIDENCES, CORRECT, n_bins=5)
    ax = Figure().add_subplot()
    plot_reliability(bins, ax, interval_level=0.95)
    return bins, ax


def test_intervals_are_whiskers_around_the_accuracy_not_bars_from_the_axis():
    bins, ax = _drawn()
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no band filled from the axis
    (whiskers,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    low, high = bins.accuracy_interval(0.95)
    filled = bins.counts > 0
    spans = sorted((float(s[:, 1].min()), float(s[:, 1].max())) for s in whiskers.get_segments())
    assert spans == sorted(zip(low[filled].round(12), high[filled].round(12), strict=True)) or np.allclose(
        spans, sorted(zip(low[filled], high[filled], strict=True))
    )
    # The lone wrong answer's bin: its bar is at 0 and its whisker does not start at the axis.
    assert bins.accuracy[0] == 0.0
    assert max(s[:, 1].max() for s in whiskers.get_segments()) <= 1.0
    bars = [
        p
        for p in ax.patches
        if p.get_height() > 0 and p.get_facecolor()[:3] == (0x4C / 255, 0x72 / 255, 0xB0 / 255)
    ]
    # Every accuracy bar rises to its bin's accuracy, never to the top of its interval.
    heights = sorted(round(p.get_height(), 9) for p in bars)
    assert heights == sorted(round(float(a), 9) for a in bins.accuracy[filled] if a > 0)


def test_sparse_bins_are_pale_and_hatched_and_every_count_is_written():
    bins, ax = _drawn()
    blue = (0x4C / 255, 0x72 / 255, 0xB0 / 255)
    accuracy_bars = [
        p
        for p in ax.patches
        if tuple(round(c, 6) for c in p.get_facecolor()[:3]) == tuple(round(c, 6) for c in blue)
    ]
    hatched = [p for p in accuracy_bars if p.get_hatch()]
    solid = [p for p in accuracy_bars if not p.get_hatch()]
    sparse = (bins.counts > 0) & (bins.counts < SPARSE_BIN_ITEMS)
    assert len(hatched) == int(sparse.sum()) == 2
    assert all(p.get_alpha() < 0.5 for p in hatched)
    assert len(solid) == 1
    written = sorted(int(t.get_text()) for t in ax.texts)
    assert written == sorted(int(c) for c in bins.counts[bins.counts > 0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"bin of fewer than {SPARSE_BIN_ITEMS} items" in labels
    assert "95% interval of accuracy" in labels


def test_small_multiples_share_one_legend_below_the_panels():
    bins = reliability_bins(CONFIDENCES, CORRECT, n_bins=5)
    figure = strata_figure([StratumPanel("a", bins, 0.1), StratumPanel("b", bins, 0.2)], title="t")
    assert len(figure.legends) == 1
    assert all(ax.get_legend() is None for ax in figure.axes)
