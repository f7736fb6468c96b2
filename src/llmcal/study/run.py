"""``llmcal study``: every part's cells, then the verdicts, the tables and the report, in one directory.

The settings are checked and written before any cell runs; a rerun into the same directory with the same
settings reads every finished cell back and runs only the rest (a killed study resumes), and one with other
settings is refused. ``study.json`` and ``study.md`` are written last, from the cells alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmcal.locking import OutputLock
from llmcal.metrics.settings import MetricSettings
from llmcal.runs.study import (
    Cell,
    ClaimVerdict,
    StudyResults,
    check_study_settings,
    write_study,
    write_study_settings,
)
from llmcal.study.cells import CellRunner
from llmcal.study.detector import run_detector
from llmcal.study.detector_verdicts import detector_claims, detector_rows
from llmcal.study.diagrams import reliability_rows
from llmcal.study.models import ModelCache
from llmcal.study.prevention import run_prevention
from llmcal.study.prevention_verdicts import dose_response_rows, prevention_arms, prevention_claims
from llmcal.study.restore import run_restore
from llmcal.study.restore_verdicts import (
    alignment_claims,
    alignment_rows,
    restore_arms,
    restore_claims,
    restore_rows,
)
from llmcal.study.settings import DetectorPart, PreventionPart, RestorePart, StudySettings
from llmcal.study.verdicts import cells_cost

__all__ = ["run_study"]


def run_study(
    out: Path,
    settings: StudySettings,
    *,
    stage: Callable[[str], None],
    render: Callable[[Path, StudyResults], None] | None = None,
) -> StudyResults:
    """Runs (or resumes) the study into ``out`` and writes ``study.json``; ``render`` draws the report.

    Raises:
        InputError: If ``out`` holds a study with other settings, or another process writes to it.
    """
    with OutputLock(out, "llmcal study"):
        check_study_settings(out, settings.record())
        write_study_settings(out, settings.record())
        findings = _Findings(CellRunner(out, stage), ModelCache(), settings)
        if settings.prevention is not None:
            findings.prevention(settings.prevention)
        if settings.detector is not None:
            findings.detector(settings.detector)
        if settings.restore is not None:
            findings.restore(settings.restore)
        results = findings.results()
        write_study(out, results)
        if render is not None:
            stage("report")
            render(out, results)
    return results


class _Findings:
    """What the parts found so far: their verdicts, tables and the cells they read."""

    def __init__(self, cells: CellRunner, models: ModelCache, settings: StudySettings) -> None:
        self.cells, self.models, self.settings = cells, models, settings
        self.metrics = MetricSettings(n_bins=settings.n_bins, n_resamples=settings.n_resamples)
        self.verdicts: list[ClaimVerdict] = []
        self.tables: dict[str, list[dict[str, Any]]] = {"reliability": []}
        self.used: list[Cell] = []

    def prevention(self, part: PreventionPart) -> None:
        found = run_prevention(part, self.settings.split_seed, self.cells, self.models)
        self.cells.stage("CogCalib: verdicts and dose-response")
        self.verdicts += prevention_claims(part, found, self.metrics)
        self.tables["dose_response"] = dose_response_rows(part, found, self.metrics)
        self.tables["selection_prevention"] = _selection_rows(found.selection)
        self.tables["reliability"] += reliability_rows(
            prevention_arms(part, found), "prevention", self.settings.n_bins
        )
        self.used += [found.base, found.selection, *found.runs.values()]

    def detector(self, part: DetectorPart) -> None:
        found = run_detector(part, self.settings.split_seed, self.cells, self.models)
        self.tables["detector"] = detector_rows(found, self.metrics)
        self.verdicts += detector_claims(self.tables["detector"])
        self.used += [cell for model in found for cell in (model.base, *model.adapted)]

    def restore(self, part: RestorePart) -> None:
        found = run_restore(part, self.settings.split_seed, self.cells, self.models)
        self.models.clear()
        self.cells.stage("alignment and restoring: verdicts")
        self.verdicts += alignment_claims(part, found, self.metrics)
        self.verdicts += restore_claims(part, found, self.metrics)
        self.tables["alignment"] = alignment_rows(part, found, self.metrics)
        self.tables["restore"] = restore_rows(part, found, self.metrics)
        self.tables["selection_restore"] = _selection_rows(found.selection)
        self.tables["reliability"] += reliability_rows(
            restore_arms(part, found), "restore", self.settings.n_bins
        )
        self.used += [found.base, *found.dpo.values(), found.selection, *found.runs.values()]

    def results(self) -> StudyResults:
        distinct = list({cell.name: cell for cell in self.used}.values())
        self.tables["cells"] = [
            {"cell": cell.name, "kind": cell.spec.get("kind", ""), "seconds": cell.seconds,
             "peak_rss_gib": cell.peak_rss_gib}
            for cell in distinct
        ]  # fmt: skip
        seconds, peak = cells_cost(distinct)
        return StudyResults(self.settings.record(), self.verdicts, self.tables, round(seconds, 1), peak)


def _selection_rows(selection: Cell) -> list[dict[str, object]]:
    """One row per candidate value tried: its calibration-split ECE and accuracy, and whether it was kept."""
    chosen = selection.values["chosen"]
    return [
        {
            "loss": loss,
            "value": candidate["value"],
            "calibration_ece": candidate["ece"],
            "calibration_accuracy": candidate["accuracy"],
            "kept": candidate["value"] == chosen[loss]["value"],
            "cell": candidate["cell"],
        }
        for loss, tried in selection.values["candidates"].items()
        for candidate in tried
    ]
