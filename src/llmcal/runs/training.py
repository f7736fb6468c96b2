"""A fine-tuning or alignment run on disk: its manifest and its typed results.

Directory layout::

    run.json                 kind "finetune" or "align": model, settings, item digests (a resume must match)
    results.json             before/after calibration rows, the training log and per-epoch details
    style-adaptation.json    fine-tuning with CogCalib's style adaptation: that warm-up's size and loss
    checkpoints/             Trainer checkpoints (fine-tuning with --checkpoints)
    model/                   the trained model, LoRA merged in (unless not saved)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from llmcal.atomic import write_text_atomic
from llmcal.metrics.summary import CalibrationRow
from llmcal.runs.evaluation import RESULTS_NAME
from llmcal.runs.files import parse_file

__all__ = [
    "TRAINING_KINDS",
    "TrainingKind",
    "TrainingResults",
    "read_training_results",
    "write_style_adaptation",
    "write_training_results",
]

TrainingKind = Literal["finetune", "align"]
TRAINING_KINDS: tuple[TrainingKind, ...] = ("finetune", "align")
# What each kind calls its training examples in results.json.
_EXAMPLES_KEY: dict[TrainingKind, str] = {"finetune": "n_train", "align": "n_pairs"}


@dataclass(frozen=True)
class TrainingResults:
    """``results.json`` of a fine-tuning or alignment run.

    Attributes:
        kind: ``finetune`` (a calibration-aware loss) or ``align`` (DPO / IPO).
        settings: The training settings in their JSON form.
        n_examples: Training items (fine-tuning) or preference pairs (alignment).
        train_loss: Mean training loss.
        log: One entry per logged epoch (loss and, for alignment, reward statistics).
        main_process: Whether the process that wrote the file was the main one of its launch.
        before: The evaluation items' calibration before training, if any were given.
        after: The same after training.
        metric_binning: How ``before``/``after``'s ECE and SCE were binned (with ``before``).
        style_adaptation: Fine-tuning with style adaptation: that warm-up's ``items`` and ``train_loss``.
        epochs: Fine-tuning: per epoch, the detector's threshold and known-flag statistics.
        detector_forward_items: Fine-tuning: calibration items the detector scored, over all epochs.
        known_flag_forward_items: Fine-tuning: training items given an extra eval-mode forward for flags.
    """

    kind: TrainingKind
    settings: dict[str, Any]
    n_examples: int
    train_loss: float
    log: list[dict[str, Any]]
    main_process: bool
    before: CalibrationRow | None = None
    after: CalibrationRow | None = None
    metric_binning: dict[str, Any] | None = None
    style_adaptation: dict[str, Any] | None = None
    epochs: list[dict[str, Any]] | None = None
    detector_forward_items: int | None = None
    known_flag_forward_items: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, in the order run format 1 writes it; absent entries are left out."""
        ordered: list[tuple[str, Any]] = [
            ("settings", self.settings),
            (_EXAMPLES_KEY[self.kind], self.n_examples),
            ("before", None if self.before is None else self.before.to_dict()),
            ("metric_binning", self.metric_binning),
            ("style_adaptation", self.style_adaptation),
            ("train_loss", self.train_loss),
            ("epochs", self.epochs),
            ("detector_forward_items", self.detector_forward_items),
            ("known_flag_forward_items", self.known_flag_forward_items),
            ("log", self.log),
            ("main_process", self.main_process),
            ("after", None if self.after is None else self.after.to_dict()),
        ]
        return {key: value for key, value in ordered if value is not None}

    def calibration_change(self) -> dict[str, float] | None:
        """After minus before for each value of the calibration rows but their size; ``None`` without both."""
        if self.before is None or self.after is None:
            return None
        before, after = asdict(self.before), asdict(self.after)
        return {key: after[key] - before[key] for key in before if key != "n_items"}

    @property
    def log_columns(self) -> list[str]:
        """What the training log records besides the epoch, in the order of its first entry."""
        return [key for key in self.log[0] if key != "epoch"] if self.log else []

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingResults:
        """Inverse of :meth:`to_dict`; the kind follows from how the examples are counted.

        Raises:
            ValueError: If the dictionary counts neither training items nor preference pairs.
        """
        kind = next((kind for kind, key in _EXAMPLES_KEY.items() if key in data), None)
        if kind is None:
            raise ValueError("neither 'n_train' (fine-tuning) nor 'n_pairs' (alignment) is present")

        def row(key: str) -> CalibrationRow | None:
            return None if data.get(key) is None else CalibrationRow.from_dict(data[key])

        return cls(
            kind,
            dict(data["settings"]),
            int(data[_EXAMPLES_KEY[kind]]),
            float(data["train_loss"]),
            _training_log(data["log"]),
            bool(data["main_process"]),
            row("before"),
            row("after"),
            data.get("metric_binning"),
            data.get("style_adaptation"),
            data.get("epochs"),
            data.get("detector_forward_items"),
            data.get("known_flag_forward_items"),
        )


def _training_log(log: Any) -> list[dict[str, Any]]:
    """The training log as written: a list of entries, each mapping a name to a number or null.

    Raises:
        ValueError: If the log, an entry or a value has another type (a report would print it as a number).
    """
    if not isinstance(log, list):
        raise ValueError(f"'log' must be a list of entries; found {type(log).__name__}")
    for index, entry in enumerate(log):
        if not isinstance(entry, dict):
            raise ValueError(f"'log' entry {index} must be an object; found {type(entry).__name__}")
        for key, value in entry.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(
                    f"'log' entry {index}, {key!r} must be a number or null; found {type(value).__name__}"
                )
    return log


def write_training_results(out: Path, results: TrainingResults) -> None:
    """Writes ``out/results.json`` atomically (creating ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    # default=str: settings may hold values JSON has no type for (paths); they are written as text.
    write_text_atomic(out / RESULTS_NAME, json.dumps(results.to_dict(), indent=2, default=str) + "\n")


def write_style_adaptation(out: Path, summary: dict[str, Any]) -> None:
    """Writes ``out/style-adaptation.json``: the size and loss of CogCalib's style-adaptation warm-up."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "style-adaptation.json", json.dumps(summary, indent=2) + "\n")


def read_training_results(out: Path) -> TrainingResults:
    """``out/results.json`` of a fine-tuning or alignment run.

    Raises:
        InputError: If it is missing or does not have the structure llmcal writes.
    """
    return parse_file(
        out / RESULTS_NAME, "the results of a fine-tuning or alignment run", TrainingResults.from_dict
    )
