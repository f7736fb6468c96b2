from __future__ import annotations

import numpy as np
import pytest

from llmcal.calibrators.temperature import TemperatureScaler
from llmcal.metrics import MetricSettings
from llmcal.runs.study import Cell, ProbabilityTable
from llmcal.study.evidence import Arm, mean_interval, overconfidence_change, temperature_scaled

SETTINGS = MetricSettings(n_bins=10, n_resamples=200)


def _softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def _table(seed: int, n: int = 60, sharpness: float = 1.0) -> ProbabilityTable:
    """Labels drawn from the unsharpened probabilities: ``sharpness`` > 1 makes the table overconfident."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 4)) * 2.0
    probs = _softmax(logits * sharpness)
    labels = np.array([rng.choice(4, p=row) for row in _softmax(logits)])
    return ProbabilityTable([f"i{k}" for k in range(n)], probs.tolist(), labels.tolist())


def _arm(label: str, tables: list[ProbabilityTable]) -> Arm:
    cells = [Cell(f"{label}-seed{k}", {}, {"test": table}) for k, table in enumerate(tables)]
    return Arm.of(label, cells, "test")


def test_overconfidence_change_is_the_mean_of_confidence_minus_accuracy_differences():
    base, other = (
        _arm("a", [_table(0), _table(1)]),
        _arm("b", [_table(0, sharpness=3), _table(1, sharpness=3)]),
    )
    change = overconfidence_change(base, other, SETTINGS)

    def gap(arm):
        return np.mean([p.confidences.mean() - p.correct.mean() for p in arm.predictions()])

    assert change.delta == pytest.approx(gap(other) - gap(base))
    assert change.before == pytest.approx(gap(base))
    assert change.delta > 0
    assert change.low <= change.delta <= change.high


def test_known_rows_select_the_items_overconfidence_is_read_on():
    arm = _arm("a", [_table(0)])
    rows = np.arange(60) < 20
    change = overconfidence_change(arm, _arm("b", [_table(0, sharpness=2)]), SETTINGS, rows)
    assert len(change.per_seed) == 1
    full = overconfidence_change(arm, _arm("b", [_table(0, sharpness=2)]), SETTINGS)
    assert change.delta != pytest.approx(full.delta)


def test_temperature_scaling_is_fitted_per_seed_on_the_calibration_tables():
    test, held_out = (
        [_table(0, sharpness=3), _table(1, sharpness=3)],
        [_table(5, sharpness=3), _table(6, sharpness=3)],
    )
    scaled = temperature_scaled(_arm("sft", test), _arm("sft", held_out))
    for table, calibration, result in zip(test, held_out, scaled.tables, strict=True):
        scaler = TemperatureScaler().fit(probs=np.array(calibration.probs), labels=calibration.labels)
        assert np.array(result.probs) == pytest.approx(scaler.transform(probs=np.array(table.probs)))
        assert result.labels == table.labels
    assert scaled.note.startswith("fitted temperature ")
    assert "temperature scaling" in scaled.label


def test_a_missing_table_is_named():
    with pytest.raises(Exception, match="no table 'calibration@4'"):
        Arm.of("x", [Cell("c", {}, {})], "calibration@4")


def test_mean_interval_pairs_items_across_seeds():
    values = np.array([[1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    estimate, low, high = mean_interval(values, SETTINGS)
    assert estimate == pytest.approx(0.625)
    assert 0 <= low <= estimate <= high <= 1


def test_a_model_without_seeds_is_paired_with_every_seed_of_the_other():
    from llmcal.metrics.seed_average import seed_averaged_changes

    base = _arm("base", [_table(9)])
    tuned = _arm("sft", [_table(0, sharpness=2), _table(1, sharpness=2), _table(2, sharpness=2)])
    rows = np.arange(60) % 3 != 0
    forward = base.change_to(tuned, ("ece", "accuracy"), SETTINGS, rows)
    expected = seed_averaged_changes(
        base.predictions(rows) * 3, tuned.predictions(rows), ["ece", "accuracy"], SETTINGS
    )
    assert forward == {change.metric: change for change in expected}
    backward = tuned.change_to(base, ("ece",), SETTINGS, rows)["ece"]
    assert backward.delta == pytest.approx(-forward["ece"].delta)
    assert len(backward.per_seed) == 3


def test_overconfidence_change_fields_and_its_bounds():
    base, other = _arm("a", [_table(0)]), _arm("b", [_table(0, sharpness=4)])
    change = overconfidence_change(base, other, SETTINGS)
    assert change.metric == "overconfidence"
    assert change.after == pytest.approx(change.before + change.delta)
    assert -1.0 <= change.low <= change.high <= 1.0


def test_mean_interval_averages_seeds_item_by_item():
    # Each item's mean over the two seeds is 0.5: every resample of items gives 0.5, a point interval.
    values = np.array([[1.0] * 8, [0.0] * 8])
    assert mean_interval(values, SETTINGS) == (0.5, 0.5, 0.5)
    one_dimensional = mean_interval(np.array([1.0, 0.0, 1.0, 1.0]), SETTINGS)
    assert one_dimensional == mean_interval(np.array([[1.0, 0.0, 1.0, 1.0]]), SETTINGS)


def test_an_arms_values_and_confidence_read_the_rows_asked_for():
    arm = _arm("sft", [_table(0, sharpness=2), _table(1, sharpness=2)])
    rows = np.arange(60) < 30
    settings = MetricSettings(n_bins=5, n_resamples=100, seed=1)
    values = arm.values(("ece", "accuracy"), settings, rows)
    from llmcal.metrics.seed_average import seed_averaged_values

    assert values == seed_averaged_values(arm.predictions(rows), ["ece", "accuracy"], settings)
    assert arm.mean_confidence(rows) == pytest.approx(
        np.mean([p.mean_confidence for p in arm.predictions(rows)])
    )
    assert arm.mean_confidence(rows) != pytest.approx(arm.mean_confidence())
    assert all(p.source == "sft" for p in arm.predictions())
    assert arm.cell_names == ["sft-seed0", "sft-seed1"]
    assert (arm.label, arm.table) == ("sft", "test")


def test_temperature_scaling_at_its_bound_is_a_note_not_a_failure():
    # Held-out items the model always gets right: the sharper the better, so the fit runs to its lower bound
    # (0.05), which warns; under the study that is a finding, written in the note.
    separable = ProbabilityTable(["a", "b"], [[0.9, 0.1], [0.2, 0.8]], [0, 1])
    scaled = temperature_scaled(_arm("sft", [_table(0), _table(1)]), _arm("sft", [separable, separable]))
    assert scaled.note == "fitted temperature 0.050, 0.050"
    assert scaled.cell_names == ["sft-seed0", "sft-seed1"]
    assert [table.ids for table in scaled.tables] == [_table(0).ids, _table(1).ids]
    assert scaled.table == "test"


def test_temperature_scaling_refuses_mismatched_seeds_and_uneven_options():
    with pytest.raises(Exception, match="one calibration table per seed"):
        temperature_scaled(_arm("a", [_table(0), _table(1)]), _arm("c", [_table(2)]))
    uneven = ProbabilityTable(["a", "b"], [[0.9, 0.1], [0.2, 0.5, 0.3]], [0, 2])
    with pytest.raises(Exception, match="same number of options"):
        temperature_scaled(_arm("a", [_table(0)]), _arm("c", [uneven]))
    with pytest.raises(Exception, match="same number of options"):
        temperature_scaled(_arm("a", [uneven]), _arm("c", [_table(0)]))


def test_mean_interval_is_seeded_and_as_wide_as_the_normal_approximation():
    values = np.random.default_rng(0).normal(size=400)
    first, second = (
        mean_interval(values, SETTINGS, bounds=(-9, 9)),
        mean_interval(values, SETTINGS, bounds=(-9, 9)),
    )
    assert first == second
    half_width = (first[2] - first[1]) / 2
    assert half_width == pytest.approx(1.96 * values.std() / np.sqrt(400), rel=0.3)


@pytest.mark.parametrize("n_base", [1, 2])
def test_two_seeds_pair_with_one_base_or_their_own(n_base):
    from llmcal.metrics.seed_average import seed_averaged_changes

    base = _arm("base", [_table(9 + k) for k in range(n_base)])
    tuned = _arm("sft", [_table(0, sharpness=2), _table(1, sharpness=2)])
    bases = base.predictions() * (2 // n_base)
    expected = seed_averaged_changes(bases, tuned.predictions(), ["ece"], SETTINGS)
    assert base.change_to(tuned, ("ece",), SETTINGS) == {"ece": expected[0]}
