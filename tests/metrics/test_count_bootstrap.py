"""The count-based bootstrap (issue 26, item 9) against the plain per-resample path it replaces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from llmcal import CalibrationWarning, InputError
from llmcal.metrics import METRICS, MetricSettings, Predictions, bootstrap_ci, metric_changes, summarize
from llmcal.metrics import count_bootstrap as cb
from llmcal.metrics.bootstrap import recentred_interval
from llmcal.metrics.summary import applicable_metrics, metric_arrays
from llmcal.metrics.validation import padded_rows

# Smooth ECE's bandwidth is a root found to 1e-6 (brentq's xtol) from another bracket; the rest is
# the same arithmetic in another order.
TOLERANCE = {"smooth_ece": 5e-6}


def _ragged(n_items, seed, *, decimals=None):
    """Items with 3 to 5 options (ARC-like), overconfident; ``decimals`` rounds probabilities (ties)."""
    rng = np.random.default_rng(seed)
    rows = []
    for size in rng.integers(3, 6, size=n_items):
        row = rng.dirichlet(np.full(size, 0.4))
        if decimals is not None:
            row = np.round(row, decimals)
            row[np.argmax(row)] += 1.0 - row.sum()  # still a distribution, still on the coarse grid
            row = np.clip(row, 0.0, 1.0)
            row /= row.sum()
        rows.append(row)
    probs, mask = padded_rows(rows)
    flattened = np.where(mask, 0.6 * probs + 0.4 / mask.sum(axis=1, keepdims=True), 0.0)
    labels = np.array([rng.choice(len(p), p=p / p.sum()) for p in flattened])
    return Predictions.from_probabilities(probs, labels, "ragged", mask)


def _reordered(predictions, order):
    return Predictions(
        predictions.confidences[order],
        predictions.correct[order],
        None if predictions.probs is None else predictions.probs[order],
        None if predictions.labels is None else predictions.labels[order],
        predictions.source,
        None if predictions.option_mask is None else predictions.option_mask[order],
    )


def _in_resampling_order(predictions):
    return _reordered(predictions, cb.resampling_order(predictions.confidences, predictions.correct))


def _draws(n_items, n_resamples, seed):
    generator = np.random.default_rng(seed)
    return np.stack(
        [
            np.bincount(generator.integers(0, n_items, size=n_items), minlength=n_items)
            for _ in range(n_resamples)
        ]
    ).astype(float)


CASES = {
    "ragged options, equal-width bins": (lambda: _ragged(3000, 1), MetricSettings(n_bins=15)),
    "equal-mass bins": (lambda: _ragged(2000, 2), MetricSettings(n_bins=10, strategy="quantile")),
    "tied confidences": (lambda: _ragged(2000, 3, decimals=1), MetricSettings(n_bins=7, strategy="quantile")),
    "five items": (lambda: _ragged(5, 4), MetricSettings(n_bins=4)),
    "top-label only": (
        lambda: Predictions(
            np.round(np.random.default_rng(5).uniform(0.3, 1.0, 800), 2),
            (np.random.default_rng(6).uniform(size=800) < 0.6).astype(float),
            None,
            None,
            "verbalised",
        ),
        MetricSettings(n_bins=12),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_count_kernel_equals_its_metric_function_on_the_drawn_resamples(case, monkeypatch):
    """Fails when a metric's function and its count kernel diverge (a changed metric, a stale kernel)."""
    make, settings = CASES[case]
    predictions = _in_resampling_order(make())
    names = applicable_metrics(predictions)
    counts = _draws(predictions.n_items, 25, seed=7)

    def no_fallback(self, name, counts):
        raise AssertionError(f"{name} has no count kernel")

    monkeypatch.setattr(cb._CountKernels, "_materialised", no_fallback)
    resampled = cb.metric_values_of_counts(predictions, names, settings, counts)
    for name in names:
        spec = METRICS.get(name)
        arrays = metric_arrays(predictions, name)
        expected = []
        for row_counts in counts:
            drawn = np.repeat(np.arange(predictions.n_items), row_counts.astype(int))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CalibrationWarning)
                expected.append(spec.function(*(a[drawn] for a in arrays), **settings.metric_kwargs(name)))
        np.testing.assert_allclose(
            resampled[name], expected, rtol=1e-9, atol=TOLERANCE.get(name, 1e-12), err_msg=name
        )


def test_summarize_gives_the_plain_bootstraps_intervals_on_the_same_resamples():
    predictions = _in_resampling_order(_ragged(1500, 8))
    settings = MetricSettings(n_bins=10, n_resamples=120, seed=4, level=0.9)
    summary = summarize(predictions, settings)
    for metric in summary.metrics:
        spec = METRICS.get(metric.name)
        plain = bootstrap_ci(
            spec.function,
            *metric_arrays(predictions, metric.name),
            n_resamples=settings.n_resamples,
            level=settings.level,
            rng=settings.seed,
            bounds=spec.bounds,
            **settings.metric_kwargs(metric.name),
        )
        tolerance = TOLERANCE.get(metric.name, 1e-12)
        assert metric.value == plain.estimate, metric.name
        assert metric.ci_low == pytest.approx(plain.low, abs=tolerance), metric.name
        assert metric.ci_high == pytest.approx(plain.high, abs=tolerance), metric.name


def test_a_paired_change_is_the_difference_of_both_runs_on_the_same_drawn_items():
    # The resamples are drawn in the base run's order; the aligned run, in another confidence order,
    # is scored on the same items.
    base = _ragged(600, 9)
    sharpened = base.probs**3
    aligned = Predictions.from_probabilities(
        sharpened / sharpened.sum(axis=1, keepdims=True), base.labels, "aligned", base.option_mask
    )
    settings = MetricSettings(n_bins=8, n_resamples=12, seed=5)
    deltas = cb.resampled_changes(base, aligned, list(METRICS), settings)
    order = cb.resampling_order(base.confidences, base.correct)
    before_run, after_run = _reordered(base, order), _reordered(aligned, order)
    counts = _draws(base.n_items, 12, seed=5)
    for name in METRICS:
        spec, kwargs = METRICS.get(name), settings.metric_kwargs(name)
        expected = []
        for row_counts in counts:
            drawn = np.repeat(np.arange(base.n_items), row_counts.astype(int))
            after = spec.function(*(a[drawn] for a in metric_arrays(after_run, name)), **kwargs)
            before = spec.function(*(a[drawn] for a in metric_arrays(before_run, name)), **kwargs)
            expected.append(after - before)
        assert len(deltas[name]) == 1
        np.testing.assert_allclose(deltas[name][0], expected, rtol=1e-9, atol=TOLERANCE.get(name, 1e-12))
    for change in metric_changes(base, aligned, list(METRICS), settings):
        assert change.delta_low <= change.delta <= change.delta_high, change


def test_same_seed_same_intervals_and_another_seed_others():
    predictions = _ragged(800, 11)
    first = summarize(predictions, MetricSettings(n_resamples=50, seed=3))
    again = summarize(predictions, MetricSettings(n_resamples=50, seed=3))
    other = summarize(predictions, MetricSettings(n_resamples=50, seed=4))
    assert first.to_dict() == again.to_dict()
    assert [m.ci_low for m in first.metrics] != [m.ci_low for m in other.metrics]
    assert [m.value for m in first.metrics] == [m.value for m in other.metrics]


def test_progress_moves_once_per_block_of_resamples(monkeypatch):
    monkeypatch.setattr(cb, "_BLOCK_CELLS", 700 * 25)  # 25 resamples of 700 items per block
    predictions = _ragged(700, 12)
    calls = []
    summarize(
        predictions,
        MetricSettings(n_resamples=110),
        on_progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(25, 110), (50, 110), (75, 110), (100, 110), (110, 110)]


def test_the_bag_of_little_bootstraps_matches_the_full_bootstrap_within_monte_carlo_noise():
    """Above EXACT_BOOTSTRAP_MAX_ITEMS, parts of the items stand in for the whole: the same intervals.

    20,000 items split into 4 parts of 5,000 against every resample having every item; both with 400
    resamples, so each end is itself estimated with Monte-Carlo error of ~10% of the width. Tolerance:
    an end may move by 30% of the full bootstrap's width, the width by 30%. MCE is the documented
    exception (a maximum over bins, driven by its sparsest bins, which a part resamples from fewer
    distinct items): its interval must only hold the estimate.
    """
    predictions = _ragged(20_000, 13)
    settings = MetricSettings(n_resamples=400, seed=1)
    names = applicable_metrics(predictions)
    full = cb.resampled_metrics(predictions, names, settings)
    little = cb.resampled_metrics(predictions, names, settings, max_exact_items=5000)
    assert all(len(little[name]) == 4 and sum(map(len, little[name])) == 400 for name in names)
    for name in names:
        spec = METRICS.get(name)
        estimate = spec.function(*metric_arrays(predictions, name), **settings.metric_kwargs(name))
        exact_low, exact_high = recentred_interval(estimate, full[name], 0.95, spec.bounds)
        low, high = recentred_interval(estimate, little[name], 0.95, spec.bounds)
        assert low <= estimate <= high, name
        if name == "mce":
            continue
        width = exact_high - exact_low
        assert abs(low - exact_low) <= 0.3 * width, (name, low, exact_low, width)
        assert abs(high - exact_high) <= 0.3 * width, (name, high, exact_high, width)
        assert high - low == pytest.approx(width, rel=0.3), name


def test_point_values_stay_exact_on_every_item_when_the_items_are_split(monkeypatch):
    monkeypatch.setattr(cb, "EXACT_BOOTSTRAP_MAX_ITEMS", 300)
    predictions = _ragged(1000, 14)
    summary = summarize(predictions, MetricSettings(n_resamples=40))
    for metric in summary.metrics:
        spec = METRICS.get(metric.name)
        assert metric.value == spec.function(
            *metric_arrays(predictions, metric.name), **MetricSettings().metric_kwargs(metric.name)
        )
        assert metric.ci_low <= metric.value <= metric.ci_high


def test_metrics_the_predictions_cannot_give_are_refused():
    top_label = Predictions(np.array([0.6, 0.9]), np.array([1.0, 0.0]), None, None, "verbalised")
    with pytest.raises(InputError, match="'sce' needs per-option probabilities"):
        cb.resampled_metrics(top_label, ["accuracy", "sce"], MetricSettings(n_resamples=5))
    with pytest.raises(InputError, match="n_resamples"):
        cb.resampled_metrics(top_label, ["accuracy"], MetricSettings(n_resamples=0))
    empty = Predictions(np.zeros(0), np.zeros(0), None, None, "nothing answered")
    with pytest.raises(InputError, match="nothing answered has no items to resample"):
        metric_changes(empty, empty, ["accuracy"], MetricSettings(n_resamples=5))
