"""Typed results with every optional part present: the JSON form, its order, and the way back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcal import InputError
from llmcal.confidence import ExtractionSettings
from llmcal.metrics import CalibrationRow, MetricChange, MetricSettings, MetricValue, Summary
from llmcal.runs import (
    ComparedPair,
    ComparisonResults,
    EvalResults,
    EvalSettings,
    Stratification,
    StratumResults,
    TaskResults,
    TaskStrata,
    TrainingResults,
    read_comparison,
    read_eval_results,
    read_training_results,
    write_comparison_results,
    write_eval_results,
    write_training_results,
)

ROW = CalibrationRow(n_items=10, accuracy=0.5, ece=0.125, sce=0.0625, brier=0.5, mean_confidence=0.625)
FINETUNE = TrainingResults(
    "finetune",
    {"method": "cogcalib-ls", "lora": None},
    n_examples=40,
    train_loss=1.5,
    log=[{"epoch": 1.0, "loss": 1.5}],
    main_process=True,
    before=ROW,
    after=CalibrationRow(10, 0.75, 0.25, 0.125, 0.375, 0.5),
    metric_binning={"ece": {"n_bins": 15, "strategy": "uniform"}},
    style_adaptation={"items": 4, "train_loss": 2.0},
    epochs=[{"epoch": 0, "threshold": 1.25}],
    detector_forward_items=8,
    known_flag_forward_items=40,
)


def test_fine_tuning_results_keep_every_part_in_the_order_run_format_1_writes_them(tmp_path):
    data = FINETUNE.to_dict()
    assert list(data) == [
        "settings", "n_train", "before", "metric_binning", "style_adaptation", "train_loss", "epochs",
        "detector_forward_items", "known_flag_forward_items", "log", "main_process", "after",
    ]  # fmt: skip
    assert data["before"] == {"n_items": 10, "accuracy": 0.5, "ece": 0.125, "sce": 0.0625, "brier": 0.5,
                              "mean_confidence": 0.625}  # fmt: skip
    assert data["after"]["accuracy"] == 0.75
    write_training_results(tmp_path / "run", FINETUNE)
    assert read_training_results(tmp_path / "run") == FINETUNE
    assert (tmp_path / "run" / "results.json").read_text() == json.dumps(data, indent=2) + "\n"


def test_alignment_results_count_pairs_and_leave_out_what_alignment_does_not_have():
    aligned = TrainingResults("align", {"method": "dpo"}, 12, 0.5, [], False)
    data = aligned.to_dict()
    assert data == {"settings": {"method": "dpo"}, "n_pairs": 12, "train_loss": 0.5, "log": [],
                    "main_process": False}  # fmt: skip
    assert TrainingResults.from_dict(data) == aligned
    with pytest.raises(ValueError, match="neither 'n_train'"):
        TrainingResults.from_dict({"settings": {}, "train_loss": 0.5, "log": [], "main_process": True})


@pytest.mark.parametrize(
    ("log", "complaint"),
    [
        ({"loss": 1.0}, "'log' must be a list"),
        ([[]], "'log' entry 0 must be an object"),
        ([{"epoch": 1.0}, {"loss": []}], "'log' entry 1, 'loss' must be a number or null; found list"),
        ([{"loss": "1.0"}], "found str"),
        ([{"loss": True}], "found bool"),
    ],
)
def test_a_training_log_that_is_not_numbers_per_entry_is_refused(log, complaint):
    data = FINETUNE.to_dict() | {"log": log}
    with pytest.raises(ValueError, match=complaint):
        TrainingResults.from_dict(data)
    assert TrainingResults.from_dict(data | {"log": [{"epoch": 1, "loss": None}]}).log == [
        {"epoch": 1, "loss": None}
    ]


def test_a_comparison_writes_and_reads_back_and_refuses_a_file_as_its_directory(tmp_path):
    change = MetricChange("p", "t", "sum", "ece", 0.1, 0.15, 0.05, 0.01, float("nan"), 0.5, rank=2)
    results = ComparisonResults(
        MetricSettings(n_bins=10), [ComparedPair("p", "a", "b", "m1", "m2")], [change]
    )
    write_comparison_results(tmp_path / "new" / "cmp", results)
    back = read_comparison(tmp_path / "new" / "cmp")
    assert (back.settings, back.pairs, back.ranked) == (results.settings, results.pairs, True)
    assert back.changes[0].to_dict() == change.to_dict()
    assert back.changes[0].to_dict()["delta_high"] is None  # NaN is written as null and read back as NaN
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="exists and is not a directory"):
        write_comparison_results(blocker, results)


def _summary(source, value):
    metric = MetricValue("ece", value, value / 2, float("nan"), "expected calibration error",
                         {"n_bins": 15, "strategy": "uniform"})  # fmt: skip
    return Summary(source, 10, 4, MetricSettings(n_resamples=20), [metric])


def test_strata_of_numeric_and_text_fields_write_and_read_back(tmp_path):
    numeric = TaskStrata(Stratification("popularity", 2), "quantile", [
        StratumResults("3–1.2e5", 3.0, 1.2e5, 10, {"sum": 0.625}, {"sum": _summary("t/sum [3–1.2e5]", 0.25)}),
        StratumResults("3e6", 3e6, 3e6, 10, {"sum": 0.5}, {"sum": _summary("t/sum [3e6]", 0.125)}),
    ])  # fmt: skip
    text = TaskStrata(Stratification("popularity", 2), "categorical", [
        StratumResults("capital", None, None, 10, {"sum": 0.75}, {"sum": _summary("u/sum [capital]", 0.5)}),
    ])  # fmt: skip
    results = EvalResults(
        EvalSettings(ExtractionSettings(methods=("sum",))),
        {"t": TaskResults(20, {"sum": _summary("t/sum", 0.2)}, numeric),
         "u": TaskResults(10, {"sum": _summary("u/sum", 0.5)}, text)},
    )  # fmt: skip
    data = results.to_dict()
    assert list(data["tasks"]["t"]) == ["n_items", "methods", "strata"]
    assert list(data["tasks"]["t"]["strata"]) == ["by", "n_strata", "kind", "groups"]
    assert list(data["tasks"]["t"]["strata"]["groups"][0]) == [
        "label",
        "lower",
        "upper",
        "n_items",
        "methods",
    ]
    assert list(data["tasks"]["u"]["strata"]["groups"][0]) == ["label", "n_items", "methods"]  # no range
    entry = data["tasks"]["t"]["strata"]["groups"][0]["methods"]["sum"]
    assert list(entry)[:2] == ["mean_confidence", "source"]
    assert entry["metrics"]["ece"]["ci_high"] is None  # NaN is written as null
    write_eval_results(tmp_path, results)
    back = read_eval_results(tmp_path)
    assert back.to_dict() == data
    assert back.tasks["t"].strata.groups[1].mean_confidence == {"sum": 0.5}
    assert back.stratification == Stratification("popularity", 2)
    assert not (tmp_path / "bins_popularity.csv").exists()  # no bins held: nothing to write


def test_results_written_before_strata_read_back_without_them():
    for name in ("eval-fake", "previous-version/eval"):
        text = (Path(__file__).parents[1] / "golden" / name / "results.json").read_text()
        results = EvalResults.from_dict(json.loads(text))
        assert results.stratification is None
        assert all(task.strata is None for task in results.tasks.values())
        assert json.dumps(results.to_dict(), indent=2) + "\n" == text
