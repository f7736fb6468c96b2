"""``llmcal-trainer.json``: what a fine-tuning checkpoint holds besides the Trainer's own state.

A ``transformers.Trainer`` checkpoint restores weights, optimizer, scheduler, data order and the log. The
calibration trainer keeps more: the running loss total (the Trainer restarts it at zero on resume), the
history of every epoch's detector and loss-hook refresh, and how many forwards they cost. That summary is
saved beside each checkpoint, written last, so a checkpoint folder holding it is complete; a resumed run
reads it back and reports what the uninterrupted run would have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmcal.atomic import write_text_atomic
from llmcal.runs.files import parse_file

__all__ = ["SUMMARY_NAME", "TrainerSummary", "read_trainer_summary", "write_trainer_summary"]

# Beside each checkpoint, in its folder (``checkpoint-<step>``).
SUMMARY_NAME = "llmcal-trainer.json"


@dataclass(frozen=True)
class TrainerSummary:
    """The calibration trainer's state at a checkpoint.

    Attributes:
        loss_total: The sum of the training losses of every step so far (the Trainer's running total).
        history: One entry per epoch refresh: the epoch, and what the detector and the loss hook recorded.
        calibration_forwards: Calibration examples scored so far to fit the detector threshold.
        known_flag_forwards: Training examples scored again in eval mode for their known flag.
    """

    loss_total: float
    history: list[dict[str, Any]] = field(default_factory=list)
    calibration_forwards: int = 0
    known_flag_forwards: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, keys in the order the file has always had."""
        return {
            "loss_total": self.loss_total,
            "history": self.history,
            "calibration_forwards": self.calibration_forwards,
            "known_flag_forwards": self.known_flag_forwards,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainerSummary:
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError: If an entry is missing.
            TypeError: If the history is not a list of objects.
            ValueError: If a count or the loss total is not a number.
        """
        history = data["history"]
        if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
            raise TypeError(f"history must be a list of objects; found {history!r}")
        return cls(
            loss_total=float(data["loss_total"]),
            history=list(history),
            calibration_forwards=int(data["calibration_forwards"]),
            known_flag_forwards=int(data["known_flag_forwards"]),
        )


def write_trainer_summary(checkpoint: Path, summary: TrainerSummary) -> None:
    """Writes ``checkpoint/llmcal-trainer.json`` atomically.

    A diverged run's NaN loss total is written as ``NaN`` (as Python's JSON reads it back), so a resumed
    run reports the same mean loss as the uninterrupted one.
    """
    write_text_atomic(checkpoint / SUMMARY_NAME, json.dumps(summary.to_dict()) + "\n")


def read_trainer_summary(checkpoint: Path) -> TrainerSummary | None:
    """The summary saved with ``checkpoint``; ``None`` for a checkpoint saved without one (an older llmcal).

    Raises:
        InputError: Naming the file, if it is unreadable or not a summary this llmcal writes.
    """
    path = checkpoint / SUMMARY_NAME
    if not path.is_file():
        return None
    return parse_file(path, "a fine-tuning checkpoint's summary", TrainerSummary.from_dict)
