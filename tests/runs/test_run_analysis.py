"""What the typed runs compute from their own data for the reports, which only format it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from llmcal import InputError
from llmcal.confidence import ExtractionSettings
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.evaluation import evaluate
from llmcal.metrics import CalibrationRow, MetricSettings
from llmcal.metrics.summary import predictions_row
from llmcal.runs import EvalSettings, Stratification, TrainingResults, read_eval_run, read_output
from llmcal.runs.demo import DemoRow, RealModelResults, known_unknown_values
from llmcal.runs.evaluation import AnswerStats, MissingConfidence, TaskResults
from llmcal.runs.kinds import settings_text
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import MCItem, OpenItem

PREVIOUS = Path(__file__).parents[1] / "golden" / "previous-version"
ITEMS = [
    MCItem(f"q{i}", f"Question {i}?", ("alpha", "beta", "gamma", "delta"), i % 4,
           subject=["physics", "law"][i % 2], metadata={"popularity": float(i)})
    for i in range(40)
]  # fmt: skip
SETTINGS = EvalSettings(ExtractionSettings(methods=("sum", "choice")), MetricSettings(n_resamples=10))


@pytest.fixture(scope="module")
def stratified(tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis") / "run"
    with pytest.warns():  # strata of 10 items: some bootstrap resamples have an undefined metric
        evaluate([EvalTask("t", ITEMS)], FakeBackend(favoured=["alpha"]), SETTINGS, out,
                 stratification=Stratification("popularity", 4))  # fmt: skip
    return read_eval_run(out)


def test_subject_rows_are_the_calibration_of_each_subjects_items(stratified):
    rows = stratified.subject_rows("t", "sum")
    assert list(rows) == ["law", "physics"]
    predictions = stratified.answered_predictions("t", "sum")
    assert predictions is not None
    law = np.array([record.subject == "law" for record in stratified.records["t"]])
    assert rows["law"] == predictions_row(predictions.subset(law))
    assert rows["law"].n_items + rows["physics"].n_items == 40


def test_strata_reliability_counts_each_strata_items_and_is_empty_when_strata_were_cut_otherwise(stratified):
    results = stratified.results()
    strata = results.tasks["t"].strata
    assert strata is not None
    assert results.strata_kinds == ["quantile"]
    bins = stratified.strata_reliability("t", strata, results.settings.metrics)
    assert list(bins) == ["sum", "choice"]
    counts = [stratum.n_items for stratum in bins["sum"] if stratum is not None]
    assert counts == [group.n_items for group in strata.groups] == [10, 10, 10, 10]
    relabelled = replace(strata, groups=[replace(group, label="x") for group in strata.groups])
    assert stratified.strata_reliability("t", relabelled, results.settings.metrics) == {}


def test_stratifying_by_a_field_the_records_lack_names_task_and_field(stratified):
    with pytest.raises(InputError, match=r"task 't': 40 of 40 items have no field 'colour'"):
        Stratification("colour").assign(stratified.records["t"], task="t")


def test_a_method_with_no_confidence_has_no_predictions_and_says_why(tmp_path):
    items = [OpenItem(f"q{i}", f"City {i}?", (["Paris", "Lima"][i % 2],)) for i in range(12)]
    settings = EvalSettings(GenerationSettings(), MetricSettings(n_resamples=10))
    evaluate([EvalTask("c", items)], FakeBackend(answers=["Paris"], unsure_every=1), settings, tmp_path)
    run = read_eval_run(tmp_path)
    assert run.answered_predictions("c", "verbal") is None
    assert run.answered_predictions("c", "seq-prob") is not None
    task = run.results().tasks["c"]
    assert task.confidence_problems("verbal") == {"no number": 12}
    assert task.answers is not None
    assert task.answers.missing_confidences() == [MissingConfidence("verbal", 12, {"no number": 12})]


def test_answer_stats_list_only_methods_that_left_answers_without_confidence():
    stats = AnswerStats(0.5, 0.6, {"seq-prob": 0, "verbal": 3}, {"verbal": {"no number": 3}})
    assert stats.missing_confidences() == [MissingConfidence("verbal", 3, {"no number": 3})]
    assert TaskResults(3, {}).confidence_problems("verbal") == {}


def test_training_change_is_after_minus_before_and_the_log_columns_follow_its_first_entry():
    row = CalibrationRow(n_items=80, accuracy=0.5, ece=0.2, sce=0.1, brier=0.6, mean_confidence=0.7)
    results = TrainingResults("finetune", {}, 10, 1.0, [{"loss": 1.0, "epoch": 1.0, "lr": 0.1}], True,
                              before=row, after=replace(row, ece=0.05, accuracy=0.75))  # fmt: skip
    change = results.calibration_change()
    assert change is not None
    assert change["ece"] == pytest.approx(-0.15)
    assert change["accuracy"] == pytest.approx(0.25)
    assert "n_items" not in change
    assert results.log_columns == ["loss", "lr"]
    assert replace(results, after=None).calibration_change() is None
    assert replace(results, log=[]).log_columns == []


def test_the_comparison_setup_is_its_settings_and_pairs():
    comparison = read_output(PREVIOUS / "comparison").run
    data = comparison.to_dict()
    assert comparison.setup == {"settings": data["settings"], "pairs": data["pairs"]}


def test_real_model_rows_split_overall_and_by_stratum_in_strata_order():
    row = CalibrationRow(10, 0.5, 0.2, 0.1, 0.6, 0.7)
    rows = [DemoRow("sum", group, row) for group in ("b", "all", "a")] + [DemoRow("min", "a", row)]
    real = RealModelResults("m", {"gguf": {"file": "f"}}, "facts", 1, 2, "popularity", ["a", "b"], {}, rows)
    assert [r.group for r in real.rows_by_stratum("sum")] == ["a", "b"]
    assert [r.group for r in real.overall_rows] == ["all"]
    assert [r.group for r in real.stratum_rows] == ["b", "a", "a"]
    assert real.gguf == {"file": "f"}
    assert replace(real, source={}).gguf == {}


def test_known_unknown_values_per_variant():
    rows = [
        DemoRow(variant, group, CalibrationRow(10, 0.5, ece, 0.1, 0.6, 0.7))
        for variant, group, ece in (
            ("a", "all", 0.9), ("a", "known", 0.1), ("a", "unknown", 0.3), ("b", "known", 0.2)
        )
    ]  # fmt: skip
    assert known_unknown_values(rows, "ece") == {"a": {"known": 0.1, "unknown": 0.3}, "b": {"known": 0.2}}


def test_small_derived_values():
    assert settings_text({"b": Path("p"), "a": "é"}) == '{\n  "a": "é",\n  "b": "p"\n}'
