"""A post-hoc calibration on disk: calibrators fitted on one split of an evaluation, measured on another.

Directory layout::

    calibration.json   the settings, the evaluations read, and per task x method: how many items the
                       calibrators were fitted on, evaluated on and left out, every top-label metric with
                       its interval before and after each calibrator (with reliability bins), and each
                       fitted calibrator (``Calibrator.to_dict``, so it can be applied again)
    run.json           kind "calibration": the evaluations read, the settings, digests of the fitted run's
                       items; written last, so a directory with it is a finished calibration
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmcal.atomic import write_text_atomic
from llmcal.errors import InputError
from llmcal.metrics.binning import ReliabilityBins
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import Summary
from llmcal.runs.files import parse_file
from llmcal.runs.manifest import write_manifest

__all__ = [
    "CALIBRATION_KIND",
    "CALIBRATION_NAME",
    "CalibratedSummary",
    "MethodRecalibration",
    "RecalibrationResults",
    "RecalibrationSettings",
    "SourceRun",
    "read_recalibration",
    "write_recalibration",
]

CALIBRATION_KIND = "calibration"
CALIBRATION_NAME = "calibration.json"


@dataclass(frozen=True)
class RecalibrationSettings:
    """How the calibrators were fitted and measured.

    Attributes:
        fit_share: Share of each task's items (of the fitted run) in the fitting split.
        seed: Seed of the split (a hash of seed, task and item id ranks the items).
        calibrators: Names in :data:`llmcal.calibrators.CALIBRATORS`, each a top-label calibrator.
        methods: The confidence methods asked for; ``None``: every method of the fitted run.
        metrics: Binning and bootstrap of the metrics before and after.
    """

    fit_share: float
    seed: int
    calibrators: tuple[str, ...]
    methods: tuple[str, ...] | None
    metrics: MetricSettings

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "fit_share": self.fit_share,
            "seed": self.seed,
            "calibrators": list(self.calibrators),
            "methods": None if self.methods is None else list(self.methods),
            "metrics": asdict(self.metrics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecalibrationSettings:
        """Inverse of :meth:`to_dict`."""
        methods = data["methods"]
        return cls(
            float(data["fit_share"]),
            int(data["seed"]),
            tuple(str(name) for name in data["calibrators"]),
            None if methods is None else tuple(str(name) for name in methods),
            MetricSettings(**data["metrics"]),
        )


@dataclass(frozen=True)
class SourceRun:
    """An evaluation the calibration read: its directory and its model."""

    path: str
    model: str


@dataclass(frozen=True)
class CalibratedSummary:
    """One calibrator of one task x method: the fitted calibrator and the metrics after it.

    Attributes:
        calibrator: Its name.
        fitted: ``Calibrator.to_dict()``: rebuild it with :func:`llmcal.calibrators.calibrator_from_dict`.
        after: Every top-label metric of the calibrated confidences on the evaluated items.
    """

    calibrator: str
    fitted: dict[str, Any]
    after: Summary


@dataclass(frozen=True)
class MethodRecalibration:
    """The calibrators of one task x confidence method, and the metrics before them.

    Attributes:
        n_fit: Items with a confidence in the fitting split.
        n_eval: Items with a confidence the calibrators were measured on.
        left_out: Items of the run applied to that were left out because their ids are in the fitting
            split (0 when measured on the fitted run's held-out items, which never overlap it).
        before: Every top-label metric of the uncalibrated confidences on the evaluated items.
        calibrated: One entry per calibrator, in the order asked for.
    """

    task: str
    method: str
    n_fit: int
    n_eval: int
    left_out: int
    before: Summary
    calibrated: tuple[CalibratedSummary, ...]

    def best(self, metric: str = "ece") -> CalibratedSummary:
        """The calibrator with the lowest ``metric`` after it (the first of equals; NaN counts last)."""

        def after_value(entry: CalibratedSummary) -> float:
            value = entry.after.metric(metric)
            return np.inf if value is None or np.isnan(value.value) else value.value

        return min(self.calibrated, key=after_value)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; the summaries keep their reliability bins."""
        return {
            "task": self.task,
            "method": self.method,
            "n_fit": self.n_fit,
            "n_eval": self.n_eval,
            "left_out": self.left_out,
            "before": self.before.to_dict(),
            "calibrators": {
                entry.calibrator: {"fitted": entry.fitted, "after": entry.after.to_dict()}
                for entry in self.calibrated
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MethodRecalibration:
        """Inverse of :meth:`to_dict`."""
        calibrated = tuple(
            CalibratedSummary(str(name), dict(entry["fitted"]), _summary(entry["after"]))
            for name, entry in data["calibrators"].items()
        )
        return cls(
            str(data["task"]),
            str(data["method"]),
            int(data["n_fit"]),
            int(data["n_eval"]),
            int(data["left_out"]),
            _summary(data["before"]),
            calibrated,
        )


def _summary(data: Mapping[str, Any]) -> Summary:
    """A summary of its JSON form, with the reliability bins it was written with."""
    summary = Summary.from_dict(data)
    rows = data.get("reliability")
    if not rows:
        return summary
    return Summary(
        summary.source, summary.n_items, summary.n_options, summary.settings, summary.metrics, _bins(rows)
    )


def _bins(rows: Sequence[Mapping[str, Any]]) -> ReliabilityBins:
    """Reliability bins of their rows (``ReliabilityBins.to_rows``); an empty bin's values are NaN."""

    def values(key: str) -> np.ndarray:
        return np.array([np.nan if row[key] is None else float(row[key]) for row in rows], dtype=np.float64)

    edges = [float(row["lower"]) for row in rows] + [float(rows[-1]["upper"])]
    return ReliabilityBins(
        np.array(edges, dtype=np.float64),
        np.array([int(row["count"]) for row in rows], dtype=np.int64),
        values("mean_confidence"),
        values("accuracy"),
    )


@dataclass(frozen=True)
class RecalibrationResults:
    """``calibration.json``: the settings, the runs read, and each task x method's calibrators.

    Attributes:
        fit_run: The evaluation the calibrators were fitted on.
        apply_to: The evaluation they were measured on; ``None``: the fitted run's held-out items.
        methods: One entry per task x method, in the fitted run's order.
    """

    settings: RecalibrationSettings
    fit_run: SourceRun
    apply_to: SourceRun | None
    methods: list[MethodRecalibration]

    @property
    def left_out(self) -> dict[str, int]:
        """Per task, the items of the run applied to left out because their ids were fitted on.

        The most of any method: methods differ only where one gave some of those items no confidence.
        """
        counts: dict[str, int] = {}
        for entry in self.methods:
            counts[entry.task] = max(counts.get(entry.task, 0), entry.left_out)
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (NaN becomes ``None``)."""
        return {
            "settings": self.settings.to_dict(),
            "fit_run": asdict(self.fit_run),
            "apply_to": None if self.apply_to is None else asdict(self.apply_to),
            "methods": [entry.to_dict() for entry in self.methods],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecalibrationResults:
        """Inverse of :meth:`to_dict`."""
        apply_to = data["apply_to"]
        return cls(
            RecalibrationSettings.from_dict(data["settings"]),
            SourceRun(**data["fit_run"]),
            None if apply_to is None else SourceRun(**apply_to),
            [MethodRecalibration.from_dict(entry) for entry in data["methods"]],
        )


def write_recalibration(out: Path, results: RecalibrationResults, manifest: dict[str, Any]) -> None:
    """Writes ``out/calibration.json``, then ``out/run.json``, each atomically (creating ``out``).

    The manifest comes last: a directory with one holds a finished calibration.

    Raises:
        InputError: If ``out`` exists and is not a directory.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory; choose another `out`.", parameter="out")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / CALIBRATION_NAME, json.dumps(results.to_dict(), indent=2) + "\n")
    write_manifest(out, manifest)


def read_recalibration(out: Path) -> RecalibrationResults:
    """``out/calibration.json``.

    Raises:
        InputError: If it is missing or does not have the structure llmcal writes.
    """
    return parse_file(out / CALIBRATION_NAME, "a post-hoc calibration", RecalibrationResults.from_dict)
