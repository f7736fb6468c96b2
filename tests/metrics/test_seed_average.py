"""Seed-averaged paired changes: the estimate is the mean of the seeds' changes, the interval paired."""

from __future__ import annotations

import numpy as np
import pytest

from llmcal.errors import InputError
from llmcal.metrics import MetricSettings, Predictions, ece, metric_changes
from llmcal.metrics.seed_average import seed_averaged_changes, seed_averaged_values

SETTINGS = MetricSettings(n_bins=10, n_resamples=300, seed=3)


def _run(seed: int, n: int = 200, shift: float = 0.0) -> Predictions:
    rng = np.random.default_rng(seed)
    confidences = np.clip(rng.uniform(0.3, 1.0, n) + shift, 0.0, 1.0)
    correct = (rng.uniform(size=n) < confidences - 0.1).astype(float)
    return Predictions(confidences, correct, None, None, f"run{seed}")


def test_one_seed_gives_the_same_change_and_interval_as_a_paired_comparison():
    base, other = _run(0), _run(1, shift=0.1)
    (change,) = seed_averaged_changes([base], [other], ["ece"], SETTINGS)
    (reference,) = metric_changes(base, other, ["ece"], SETTINGS)
    assert change.delta == pytest.approx(reference.delta)
    assert (change.low, change.high) == pytest.approx((reference.delta_low, reference.delta_high))


def test_the_estimate_is_the_mean_of_each_seeds_own_change():
    bases = [_run(0), _run(1), _run(2)]
    others = [_run(10), _run(11, shift=0.05), _run(12, shift=0.1)]
    (change,) = seed_averaged_changes(bases, others, ["ece"], SETTINGS)
    own = [
        ece(o.confidences, o.correct, n_bins=10) - ece(b.confidences, b.correct, n_bins=10)
        for b, o in zip(bases, others, strict=True)
    ]
    assert change.per_seed == pytest.approx(own)
    assert change.delta == pytest.approx(np.mean(own))
    assert change.low <= change.delta <= change.high
    assert change.seeds_agreeing == sum(np.sign(value) == np.sign(change.delta) for value in own)


def test_identical_arms_change_by_exactly_nothing_on_every_resample():
    runs = [_run(0), _run(1)]
    (change,) = seed_averaged_changes(runs, runs, ["ece"], SETTINGS)
    assert (change.delta, change.low, change.high) == (0.0, 0.0, 0.0)
    assert change.seeds_agreeing == 0


def test_pairing_narrows_the_interval_of_a_constant_shift():
    """A shift every seed shares is measured exactly when the items are resampled together."""
    bases = [_run(seed) for seed in range(3)]
    shifted = [Predictions(np.clip(b.confidences + 0.05, 0, 1), b.correct, None, None, "s") for b in bases]
    (paired,) = seed_averaged_changes(bases, shifted, ["accuracy"], SETTINGS)
    assert (paired.low, paired.high) == (0.0, 0.0)  # accuracy is unchanged by the shift on every resample


def test_values_are_seed_means_with_an_interval():
    runs = [_run(0), _run(1)]
    value, low, high = seed_averaged_values(runs, ["ece"], SETTINGS)["ece"]
    assert value == pytest.approx(np.mean([ece(r.confidences, r.correct, n_bins=10) for r in runs]))
    assert 0 <= low <= value <= high <= 1


def test_mismatched_inputs_are_refused():
    with pytest.raises(InputError, match="one base per seed"):
        seed_averaged_changes([_run(0)], [_run(1), _run(2)], ["ece"], SETTINGS)
    with pytest.raises(InputError, match="same items in every run"):
        seed_averaged_changes([_run(0, n=100)], [_run(1, n=120)], ["ece"], SETTINGS)


def test_the_change_records_its_metric_and_both_seed_means():
    bases, others = [_run(0), _run(1)], [_run(2, shift=0.1), _run(3, shift=0.1)]
    change, accuracy = seed_averaged_changes(bases, others, ["ece", "accuracy"], SETTINGS)
    assert (change.metric, accuracy.metric) == ("ece", "accuracy")
    assert change.before == pytest.approx(np.mean([ece(b.confidences, b.correct, n_bins=10) for b in bases]))
    assert change.after == pytest.approx(np.mean([ece(o.confidences, o.correct, n_bins=10) for o in others]))
    assert change.after - change.before == pytest.approx(change.delta)


def test_each_seed_is_paired_with_its_own_base_on_every_resample():
    """The interval: the recentred spread of the seeds' mean (other_s - base_s) over shared resamples."""
    from llmcal.metrics.bootstrap import recentred_interval
    from llmcal.metrics.comparison import difference_bounds
    from llmcal.metrics.count_bootstrap import resampled_together

    bases = [_run(0), _run(1), _run(2)]
    others = [_run(3, shift=0.02), _run(4, shift=0.2), _run(5, shift=-0.1)]
    (change,) = seed_averaged_changes(bases, others, ["ece"], SETTINGS)
    draws = resampled_together([*bases, *others], ["ece"], SETTINGS)
    paired = np.mean(
        [np.concatenate(draws[3 + s]["ece"]) - np.concatenate(draws[s]["ece"]) for s in range(3)], 0
    )
    expected = recentred_interval(change.delta, [paired], 0.95, difference_bounds((0.0, 1.0)))
    assert (change.low, change.high) == pytest.approx(expected)


def test_values_resample_every_run_together():
    runs = [_run(0), _run(1), _run(2)]
    value, low, high = seed_averaged_values(runs, ["accuracy"], SETTINGS)["accuracy"]
    alone = [seed_averaged_values([run], ["accuracy"], SETTINGS)["accuracy"] for run in runs]
    # Averaging over seeds shrinks the spread below the widest single seed's, and the interval is not a point.
    assert low < value < high
    assert high - low < max(h - lo for _, lo, h in alone)
