"""Post-hoc calibration of every confidence method on a split of a run (issue 29, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmcal import InputError
from llmcal.calibrators import HistogramBinning, IsotonicCalibrator, PlattScaler, calibrator_from_dict
from llmcal.metrics import MetricSettings, ece, top_label_brier
from llmcal.recalibration import fitting_ids, recalibrate, save_recalibration
from llmcal.reports.html import report_html
from llmcal.runs import RecalibrationResults, read_eval_run, read_output
from llmcal.runs.recalibration import CALIBRATION_NAME
from tests.recalibration_runs import (
    MC_METHODS,
    OPEN_METHODS,
    fake_mc_run,
    fake_open_run,
    hand_arrays,
    write_hand_run,
)

FAST = MetricSettings(n_resamples=50)
NUMBERS = list(range(200))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Built once: the hand-made overconfident run, and the fake backend's MC and open-ended runs."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "hand": read_eval_run(write_hand_run(root / "hand", NUMBERS)),
        "mc": read_eval_run(fake_mc_run(root / "mc")),
        "open": read_eval_run(fake_open_run(root / "open")),
    }


def test_the_split_is_seeded_sized_and_independent_of_item_order():
    ids = [f"q{number}" for number in NUMBERS]
    split = fitting_ids("toy", ids, 0.3, seed=4)
    assert len(split) == 60
    assert split <= set(ids)
    assert fitting_ids("toy", ids[::-1], 0.3, seed=4) == split
    assert fitting_ids("toy", ids, 0.3, seed=5) != split
    assert fitting_ids("other", ids, 0.3, seed=4) != split  # each task has its own split
    assert fitting_ids("toy", ids, 0.6, seed=4) >= split  # a larger share keeps the smaller one's items


def test_records_written_in_another_order_give_the_same_results(runs, tmp_path):
    order = list(np.random.default_rng(1).permutation(len(NUMBERS)))
    shuffled = read_eval_run(write_hand_run(tmp_path / "shuffled", NUMBERS, order=order))
    first, second = (recalibrate(run, settings=FAST, seed=3) for run in (runs["hand"], shuffled))
    # Bit for bit, intervals included: items are fitted and resampled in the order of their ids.
    assert first.methods[0].before.metrics == second.methods[0].before.metrics
    for one, other in zip(first.methods[0].calibrated, second.methods[0].calibrated, strict=True):
        assert (one.fitted, one.after.metrics) == (other.fitted, other.after.metrics)


def test_each_fitted_calibrator_maps_the_held_out_items_as_its_transform_does(runs):
    results = recalibrate(runs["hand"], settings=FAST, seed=7)
    (entry,) = results.methods
    fitted = fitting_ids("toy", [f"q{number}" for number in NUMBERS], 0.5, seed=7)
    fit_numbers = [number for number in NUMBERS if f"q{number}" in fitted]
    held_out = [number for number in NUMBERS if f"q{number}" not in fitted]
    fit_confidences, fit_correct = hand_arrays(fit_numbers)
    confidences, correct = hand_arrays(held_out)
    assert (entry.n_fit, entry.n_eval, entry.left_out) == (100, 100, 0)
    for calibrator in (IsotonicCalibrator(), PlattScaler(), HistogramBinning()):
        expected = calibrator.fit(confidences=fit_confidences, correct=fit_correct).transform(
            confidences=confidences
        )
        (found,) = [item for item in entry.calibrated if item.calibrator == calibrator.name]
        saved = calibrator_from_dict(found.fitted).transform(confidences=confidences)
        np.testing.assert_allclose(saved, expected, atol=1e-9)
        after = {metric.name: metric.value for metric in found.after.metrics}
        assert after["ece"] == pytest.approx(ece(expected, correct, n_bins=15), abs=1e-9)
        assert after["top_brier"] == pytest.approx(top_label_brier(expected, correct), abs=1e-9)
        assert after["accuracy"] == entry.before.metric("accuracy").value == correct.mean()
    assert entry.before.metric("ece").value == pytest.approx(ece(confidences, correct, n_bins=15))


def test_isotonic_is_calibrated_on_its_own_split_and_lowers_held_out_ece(runs):
    results = recalibrate(runs["hand"], settings=FAST)
    (entry,) = results.methods
    isotonic = calibrator_from_dict(entry.calibrated[0].fitted)
    fitted = fitting_ids("toy", [f"q{number}" for number in NUMBERS], 0.5)
    fit_confidences, fit_correct = hand_arrays([n for n in NUMBERS if f"q{n}" in fitted])
    on_itself = isotonic.transform(confidences=fit_confidences)
    assert ece(on_itself, fit_correct, n_bins=15) < 0.03  # sanity: isotonic fits its own split
    before = entry.before.metric("ece").value
    assert before > 0.3  # the run is overconfident by about 0.35
    for item in entry.calibrated:
        assert item.after.metric("ece").value < before - 0.2, item.calibrator
        assert item.after.metric("ece").ci_low <= item.after.metric("ece").value


@pytest.mark.parametrize(("run", "methods"), [("mc", MC_METHODS), ("open", OPEN_METHODS)])
def test_every_method_is_calibrated_including_the_ones_over_samples(runs, run, methods):
    results = recalibrate(runs[run], settings=FAST, calibrators=("platt", "isotonic"))
    assert [entry.method for entry in results.methods] == list(methods)
    n_items = len(next(iter(runs[run].records.values())))
    for entry in results.methods:
        assert entry.n_fit + entry.n_eval == n_items
        assert [item.calibrator for item in entry.calibrated] == ["platt", "isotonic"]
        assert entry.before.metric("sce") is None  # top label only, before as after
        for item in entry.calibrated:
            assert item.after.metric("accuracy").value == entry.before.metric("accuracy").value
            assert {"ece", "smooth_ece", "top_brier", "auroc", "aurc"} <= {m.name for m in item.after.metrics}
    semantic = next((e for e in results.methods if e.method == "semantic-entropy"), None)
    if semantic is not None:  # a monotone map of an entropy: far from a probability until calibrated
        assert semantic.calibrated[0].after.metric("ece").value < semantic.before.metric("ece").value


def test_apply_to_measures_on_another_run_leaving_out_the_ids_fitted_on(runs, tmp_path):
    other = read_eval_run(write_hand_run(tmp_path / "other", list(range(100, 300))))
    results = recalibrate(runs["hand"], apply_to=other, settings=FAST)
    (entry,) = results.methods
    fitted = fitting_ids("toy", [f"q{number}" for number in NUMBERS], 0.5)
    overlapping = sum(f"q{number}" in fitted for number in range(100, 300))
    assert 0 < overlapping < 100
    assert (entry.n_fit, entry.left_out, entry.n_eval) == (100, overlapping, 200 - overlapping)
    assert results.left_out == {"toy": overlapping}
    assert results.apply_to is not None
    assert results.apply_to.path == str(other.path)
    everything = recalibrate(runs["hand"], apply_to=other, fit_share=1.0, settings=FAST)
    assert (everything.methods[0].n_fit, everything.methods[0].left_out) == (200, 100)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fit_share": 0.0}, "`fit_share` must be in (0, 1); 1 only with `apply_to`"),
        ({"fit_share": 1.0}, "`fit_share` must be in (0, 1); 1 only with `apply_to`"),
        ({"fit_share": float("nan")}, "got nan"),
        ({"calibrators": ("isotonc",)}, "Did you mean: isotonic"),
        ({"calibrators": ("temperature",)}, "'temperature' calibrates per-option scores"),
        ({"calibrators": ()}, "`calibrators` is empty"),
        ({"methods": ("summ",)}, "has no confidence method 'summ'; it computed sum. Did you mean 'sum'?"),
        (
            {"fit_share": 0.04},
            "the fitting split has 8 answers with a confidence; a calibrator needs at least",
        ),
    ],
)
def test_bad_inputs_are_refused_naming_the_input(runs, options, message):
    with pytest.raises(InputError) as error:
        recalibrate(runs["hand"], settings=FAST, **options)
    assert message in str(error.value)
    assert error.value.parameter in ("fit_share", "calibrators", "methods", None)


def test_a_fitting_split_of_one_outcome_is_refused(tmp_path):
    right = [number for number in range(400) if overconfident_right(number)][:40]
    run = read_eval_run(write_hand_run(tmp_path / "right", right))
    with pytest.raises(InputError, match="all 20 answers in the fitting split are right"):
        recalibrate(run, settings=FAST)


def overconfident_right(number: int) -> bool:
    return hand_arrays([number])[1][0] == 1.0


def test_apply_to_needs_the_task_and_the_method(runs, tmp_path):
    other_task = read_eval_run(write_hand_run(tmp_path / "task", NUMBERS, task="quiz"))
    with pytest.raises(InputError, match=r"`apply_to` .* has no task 'toy' \(it has quiz\)"):
        recalibrate(runs["hand"], apply_to=other_task, settings=FAST)
    other_method = read_eval_run(write_hand_run(tmp_path / "method", NUMBERS, methods=("mean",)))
    with pytest.raises(InputError, match=r"has no confidence method 'sum' \(it computed mean\)"):
        recalibrate(runs["hand"], apply_to=other_method, settings=FAST)
    with pytest.raises(InputError, match="`fit_share` must be in \\(0, 1\\]"):
        recalibrate(runs["hand"], apply_to=other_method, fit_share=1.5, settings=FAST)
    with pytest.raises(InputError, match="all 200 items with a confidence are in the fitting split"):
        recalibrate(runs["hand"], apply_to=runs["hand"], fit_share=1.0, settings=FAST)


def test_the_run_directory_reads_back_and_draws_as_its_kind(runs, tmp_path):
    other = read_eval_run(write_hand_run(tmp_path / "other", list(range(100, 300))))
    results = recalibrate(runs["hand"], apply_to=other, settings=FAST)
    out = save_recalibration(tmp_path / "calibrated", results, runs["hand"], other)
    assert sorted(path.name for path in out.iterdir()) == [CALIBRATION_NAME, "run.json"]
    manifest = json.loads((out / "run.json").read_text())
    assert (manifest["kind"], manifest["fit_run"]) == ("calibration", str(runs["hand"].path))
    output = read_output(out)
    assert output.kind == "calibration"
    read: RecalibrationResults = output.run
    assert read.to_dict() == json.loads((out / CALIBRATION_NAME).read_text())
    assert read.methods[0].before.reliability is not None
    assert read.methods[0].before.reliability.n_items == results.methods[0].n_eval
    page = report_html([out])
    assert "Post-hoc calibration" in page
    assert "Before and after each calibrator" in page
    assert page.count("<img") == 1  # one figure: before beside each calibrator
    assert f"toy: {results.left_out['toy']}" in page


def test_a_directory_of_another_run_is_not_overwritten(runs):
    results = recalibrate(runs["hand"], settings=FAST)
    before = sorted(path.name for path in runs["hand"].path.iterdir())
    with pytest.raises(InputError, match="holds a run of kind 'eval', not a calibration"):
        save_recalibration(runs["hand"].path, results, runs["hand"])
    assert sorted(path.name for path in Path(runs["hand"].path).iterdir()) == before
