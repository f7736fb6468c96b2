"""``llmcal-trainer.json``, the calibration trainer's summary beside each checkpoint."""

from __future__ import annotations

import math

import pytest

from llmcal.errors import InputError
from llmcal.runs.training_checkpoint import (
    SUMMARY_NAME,
    TrainerSummary,
    read_trainer_summary,
    write_trainer_summary,
)

SUMMARY = TrainerSummary(
    loss_total=3.25,
    history=[{"epoch": 0, "threshold": 0.5}, {"epoch": 1, "bins": [1, 2]}],
    calibration_forwards=12,
    known_flag_forwards=0,
)


def test_the_summary_is_written_as_it_always_was_and_reads_back(tmp_path) -> None:
    write_trainer_summary(tmp_path, SUMMARY)
    assert (tmp_path / SUMMARY_NAME).read_text(encoding="utf-8") == (
        '{"loss_total": 3.25, "history": [{"epoch": 0, "threshold": 0.5}, {"epoch": 1, "bins": [1, 2]}], '
        '"calibration_forwards": 12, "known_flag_forwards": 0}\n'
    )
    assert read_trainer_summary(tmp_path) == SUMMARY


def test_a_diverged_runs_nan_loss_total_survives_a_resume(tmp_path) -> None:
    write_trainer_summary(tmp_path, TrainerSummary(loss_total=math.nan))
    restored = read_trainer_summary(tmp_path)
    assert restored is not None
    assert math.isnan(restored.loss_total)


def test_a_checkpoint_without_a_summary_restores_nothing(tmp_path) -> None:
    assert read_trainer_summary(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"loss_total": 1.0', "unreadable JSON"),
        ('{"loss_total": 1.0, "history": [], "calibration_forwards": 0}', "KeyError: 'known_flag_forwards'"),
        (
            '{"loss_total": 1.0, "history": [3], "calibration_forwards": 0, "known_flag_forwards": 0}',
            "TypeError",
        ),
        (
            '{"loss_total": "x", "history": [], "calibration_forwards": 0, "known_flag_forwards": 0}',
            "ValueError",
        ),
    ],
)
def test_a_broken_summary_is_an_input_error_naming_the_file(tmp_path, text: str, problem: str) -> None:
    (tmp_path / SUMMARY_NAME).write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=rf"{SUMMARY_NAME}: .*{problem}"):
        read_trainer_summary(tmp_path)
