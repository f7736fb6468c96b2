from __future__ import annotations

import json
import math

import numpy as np
import pytest

from llmcal.errors import InputError
from llmcal.runs.study import (
    ClaimVerdict,
    ProbabilityTable,
    StudyResults,
    check_study_settings,
    read_study,
    write_study,
    write_study_settings,
)


def test_a_table_of_items_with_different_option_counts_reads_as_padded_probabilities_and_predictions():
    table = ProbabilityTable(["a", "b", "c"], [[0.9, 0.1], [0.2, 0.5, 0.3], [0.4, 0.6]], [0, 2, 0])
    padded = table.option_probabilities()
    assert padded.probs.shape == (3, 3)
    assert padded.option_mask.tolist()[0] == [True, True, False]
    predictions = table.predictions()
    assert predictions.confidences.tolist() == [0.9, 0.5, 0.6]
    assert predictions.correct.tolist() == [1.0, 0.0, 0.0]
    assert table.predictions(np.array([True, False, True])).n_items == 2
    assert ProbabilityTable.of(table.ids, padded) == table


def test_a_cell_keeps_its_spec_exactly_and_its_measurements_to_seven_digits(tmp_path):
    from llmcal.runs.study import Cell, read_cell, write_cell

    spec = {"learning_rate": 0.1 + 0.2, "seeds": (0, 1)}
    table = ProbabilityTable(["a"], [[1 / 3, 2 / 3]], [1])
    write_cell(tmp_path, Cell("c", spec, {"test": table}, {"nll": [math.pi, math.nan], "known": [True]}))
    back = read_cell(tmp_path, "c", spec)
    assert back is not None
    assert back.spec == {"learning_rate": 0.30000000000000004, "seeds": [0, 1]}
    assert back.tables["test"].probs == [[0.3333333, 0.6666667]]
    assert back.values["nll"][0] == 3.141593
    assert back.values["nll"][1] is None  # strict JSON
    assert back.values["known"] == [True]


def test_study_results_round_trip_with_nan_written_as_null(tmp_path):
    verdict = ClaimVerdict(
        "c", "p", "claim", "n", "m", math.nan, math.nan, math.nan, "undecided", "why", ["x"]
    )
    results = StudyResults(
        {"name": "micro"}, [verdict], {"rows": [{"ece": math.nan, "loss": "sft"}]}, 1.5, 0.25
    )
    write_study(tmp_path, results)
    text = (tmp_path / "study.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["verdicts"][0]["estimate"] is None
    back = read_study(tmp_path)
    assert math.isnan(back.verdicts[0].estimate)
    assert back.verdicts[0].cells == ["x"]
    assert back.tables["rows"][0] == {"ece": None, "loss": "sft"}


def test_a_study_directory_with_other_settings_is_refused_naming_what_differs(tmp_path):
    write_study_settings(tmp_path, {"n_resamples": 1000, "prevention": {"seeds": [0, 1, 2]}})
    check_study_settings(tmp_path, {"n_resamples": 1000, "prevention": {"seeds": (0, 1, 2)}})  # tuple = list
    with pytest.raises(InputError, match="n_resamples"):
        check_study_settings(tmp_path, {"n_resamples": 100, "prevention": {"seeds": [0, 1, 2]}})


def test_an_unreadable_study_file_names_itself(tmp_path):
    (tmp_path / "study.json").write_text('{"verdicts": 3}')
    with pytest.raises(InputError, match=r"study\.json: not the results of `llmcal study`"):
        read_study(tmp_path)
