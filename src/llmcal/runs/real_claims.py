"""The papers' claims on real LLMs (``llmcal demo --real``): ``real-claims.json``, the story in one file.

The directory also holds the evaluation, alignment, comparison and fine-tuning runs the story made, each in
its own kind's layout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmcal.atomic import write_text_atomic
from llmcal.metrics.comparison import MetricChange
from llmcal.runs.demo import DemoRow
from llmcal.runs.files import parse_file

__all__ = [
    "REAL_CLAIMS_NAME",
    "AlignmentClaims",
    "DetectorCheck",
    "PreventionClaims",
    "RealClaimsResults",
    "StepCost",
    "read_real_claims",
    "write_real_claims",
]

REAL_CLAIMS_NAME = "real-claims.json"


@dataclass(frozen=True)
class DetectorCheck:
    """CogCalib's known/unknown detector on held-out items: a gold-answer NLL threshold.

    Attributes:
        threshold: The NLL threshold, fitted (Youden's J) on the calibration items.
        accuracy: Share of test items whose known flag the threshold gets right.
        tpr: Share of known test items classified known.
        tnr: Share of unknown test items classified unknown.
        n_known: Known test items (the model answered them right before fine-tuning).
        n_unknown: Unknown test items.
    """

    threshold: float
    accuracy: float
    tpr: float
    tnr: float
    n_known: int
    n_unknown: int

    @property
    def n_items(self) -> int:
        """Test items the detector was checked on."""
        return self.n_known + self.n_unknown


@dataclass(frozen=True)
class StepCost:
    """One step's wall time and the process's peak resident memory when it ended.

    The peak is the process's high-water mark (``getrusage``), so a step's own peak is only visible where
    it exceeds every earlier step's.
    """

    step: str
    seconds: float
    peak_rss_gib: float


@dataclass(frozen=True)
class PreventionClaims:
    """Claim 1 (CogCalib): fine-tuning losses on an instruct model, overall and on known vs unknown items.

    Attributes:
        model: The model as given (a packaged model's short name).
        source: The backend's description of it (the GGUF file, its hash and quantization).
        settings: Items drawn, LoRA, epochs, learning rate, batch size, loss strengths.
        detector: The NLL detector on the test items.
        rows: Per variant (``base``, then each loss and the known-only / unknown-only SFT), calibration of
            the ``sum`` method on ``all``, ``known`` and ``unknown`` test items.
    """

    model: str
    source: dict[str, Any]
    settings: dict[str, Any]
    detector: DetectorCheck
    rows: list[DemoRow]


@dataclass(frozen=True)
class AlignmentClaims:
    """Claims 2 and 3: DPO of a base model (Oh & Hwang), then CFT and RCFT on it (Xiao et al.).

    Attributes:
        model: The base model as given.
        source: The backend's description of it.
        settings: Items drawn, the DPO settings, and the CFT / RCFT fine-tuning settings.
        comparison: Base vs aligned: the change of every compared metric per confidence method.
        rows: Per variant (``base``, ``aligned``, ``aligned + cft``, ``aligned + rcft``), calibration of
            the ``sum`` method on ``all``, ``known`` and ``unknown`` test items.
        alignment_log: The DPO run's logged losses and rewards.
    """

    model: str
    source: dict[str, Any]
    settings: dict[str, Any]
    comparison: list[MetricChange]
    rows: list[DemoRow]
    alignment_log: list[dict[str, Any]]


@dataclass(frozen=True)
class RealClaimsResults:
    """``real-claims.json``: each part (``None`` when skipped) and what every step cost."""

    seed: int
    prevention: PreventionClaims | None
    alignment: AlignmentClaims | None
    steps: list[StepCost]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        prevention = alignment = None
        if self.prevention is not None:
            prevention = {**asdict(self.prevention), "rows": [row.to_dict() for row in self.prevention.rows]}
        if self.alignment is not None:
            alignment = {
                **asdict(self.alignment),
                "comparison": [change.to_dict() for change in self.alignment.comparison],
                "rows": [row.to_dict() for row in self.alignment.rows],
            }
        return {
            "seed": self.seed,
            "prevention": prevention,
            "alignment": alignment,
            "steps": [asdict(step) for step in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RealClaimsResults:
        """Inverse of :meth:`to_dict`."""
        prevention = alignment = None
        if data["prevention"] is not None:
            part = data["prevention"]
            prevention = PreventionClaims(
                str(part["model"]),
                dict(part["source"]),
                dict(part["settings"]),
                DetectorCheck(**part["detector"]),
                [DemoRow.from_dict(row) for row in part["rows"]],
            )
        if data["alignment"] is not None:
            part = data["alignment"]
            alignment = AlignmentClaims(
                str(part["model"]),
                dict(part["source"]),
                dict(part["settings"]),
                [MetricChange.from_dict(change) for change in part["comparison"]],
                [DemoRow.from_dict(row) for row in part["rows"]],
                [dict(entry) for entry in part["alignment_log"]],
            )
        return cls(int(data["seed"]), prevention, alignment, [StepCost(**step) for step in data["steps"]])


def write_real_claims(out: Path, results: RealClaimsResults) -> None:
    """Writes ``out/real-claims.json`` atomically."""
    write_text_atomic(out / REAL_CLAIMS_NAME, json.dumps(results.to_dict(), indent=2) + "\n")


def read_real_claims(out: Path) -> RealClaimsResults:
    """``out/real-claims.json``.

    Raises:
        InputError: If it is missing or does not have the structure llmcal writes.
    """
    return parse_file(
        out / REAL_CLAIMS_NAME, "the results of `llmcal demo --real`", RealClaimsResults.from_dict
    )
