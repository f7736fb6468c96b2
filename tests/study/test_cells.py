from __future__ import annotations

import json

import pytest

from llmcal.errors import InputError
from llmcal.runs.study import ProbabilityTable
from llmcal.study.cells import CellRunner
from llmcal.study.prevention import selection_choice

TABLE = ProbabilityTable(["a", "b"], [[0.9, 0.1], [0.2, 0.5, 0.3]], [0, 2])


def test_a_cell_runs_once_and_is_read_back_the_second_time(tmp_path):
    calls, stages = [], []
    runner = CellRunner(tmp_path, stages.append)

    def work(directory):
        calls.append(directory)
        (directory / "kept.txt").write_text("x")
        return {"test": TABLE}, {"n": 3}

    first = runner("cell-a", {"seed": 0}, work)
    second = CellRunner(tmp_path, stages.append)("cell-a", {"seed": 0}, work)
    assert len(calls) == 1
    assert stages == ["cell-a"]
    assert second == first
    assert second.tables == {"test": ProbabilityTable(["a", "b"], [[0.9, 0.1], [0.2, 0.5, 0.3]], [0, 2])}
    assert second.values == {"n": 3}
    assert second.seconds >= 0
    assert second.peak_rss_gib > 0
    assert (tmp_path / "cells" / "cell-a" / "kept.txt").is_file()


def test_a_cell_whose_work_fails_leaves_no_result_and_runs_again(tmp_path):
    runner = CellRunner(tmp_path, lambda _: None)

    def failing(_):
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        runner("cell-a", {"seed": 0}, failing)
    assert not (tmp_path / "cells" / "cell-a" / "cell.json").exists()
    runner("cell-a", {"seed": 0}, lambda _: ({}, {"done": True}))
    assert runner.ran == ["cell-a"]


def test_a_finished_cell_with_another_spec_is_refused_naming_the_difference(tmp_path):
    CellRunner(tmp_path, lambda _: None)("cell-a", {"seed": 0, "lr": 1e-3}, lambda _: ({}, {}))
    with pytest.raises(
        InputError,
        match=r"cell-a/cell\.json was measured with other settings \(settings\.lr 0\.001 -> 0\.0001",
    ):
        CellRunner(tmp_path, lambda _: None)("cell-a", {"seed": 0, "lr": 1e-4}, lambda _: ({}, {}))


def test_a_tuple_in_the_spec_matches_the_list_it_reads_back_as(tmp_path):
    runner = CellRunner(tmp_path, lambda _: None)
    runner("cell-a", {"epochs": (1, 2)}, lambda _: ({}, {}))
    runner("cell-a", {"epochs": (1, 2)}, lambda _: pytest.fail("ran again"))
    assert runner.reused == ["cell-a"]


def test_an_edited_cell_file_is_refused_as_not_one_llmcal_writes(tmp_path):
    CellRunner(tmp_path, lambda _: None)("cell-a", {"seed": 0}, lambda _: ({}, {}))
    path = tmp_path / "cells" / "cell-a" / "cell.json"
    data = json.loads(path.read_text())
    del data["tables"]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="not a study cell"):
        CellRunner(tmp_path, lambda _: None)("cell-a", {"seed": 0}, lambda _: ({}, {}))


def test_the_kept_value_is_the_lowest_ece_among_those_near_sfts_accuracy():
    candidates = [
        {"value": 0.1, "ece": 0.10, "accuracy": 0.70},
        {"value": 0.3, "ece": 0.05, "accuracy": 0.60},  # best ECE, but 10 points less accurate
        {"value": 0.5, "ece": 0.08, "accuracy": 0.69},
    ]
    assert selection_choice(candidates, {"ece": 0.12, "accuracy": 0.70}, 0.02) == {
        "value": 0.5,
        "eligible": True,
    }
    assert selection_choice(candidates, {"ece": 0.12, "accuracy": 0.70}, 0.2)["value"] == 0.3
    # None within reach: the most accurate is kept, and the choice says it was not eligible.
    assert selection_choice(candidates, {"ece": 0.12, "accuracy": 0.90}, 0.02) == {
        "value": 0.1,
        "eligible": False,
    }


def test_a_fresh_cell_is_returned_as_written_so_a_rerun_reads_the_same_numbers(tmp_path):
    runner = CellRunner(tmp_path, lambda _: None)
    fresh = runner("c", {}, lambda _: ({"t": ProbabilityTable(["a"], [[1 / 3, 2 / 3]], [0])}, {"x": 1 / 7}))
    again = CellRunner(tmp_path, lambda _: None)("c", {}, lambda _: pytest.fail("ran again"))
    assert fresh == again
    assert fresh.tables["t"].probs == [[0.3333333, 0.6666667]]
    assert fresh.values == {"x": 0.1428571}
