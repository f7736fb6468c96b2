"""A finished evaluation read back with its records, and what people are shown that the records give.

:func:`read_eval_run` checks that every item of every task the manifest lists was scored;
:class:`EvalRun` answers the questions the reports ask of a finished run (each method's predictions on
the items it gave a confidence, per-subject rows, per-stratum reliability bins) from its records, so
``reports/`` only formats. The files' formats are :mod:`llmcal.runs.evaluation`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.confidence.predictions import answered, method_predictions
from llmcal.confidence.records import AnyRecord, ItemRecord
from llmcal.errors import InputError
from llmcal.metrics.binning import ReliabilityBins, reliability_bins
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import CalibrationRow, predictions_row
from llmcal.runs.evaluation import EVAL_KIND, EvalResults, EvalSettings, TaskStrata, read_eval_results
from llmcal.runs.manifest import manifest_kind, read_manifest
from llmcal.runs.records import RECORDS_NAME, RecordStore

__all__ = ["EvalRun", "read_eval_run"]


@dataclass(frozen=True)
class EvalRun:
    """A finished evaluation read back from its output directory.

    Attributes:
        path: The directory.
        manifest: ``run.json``: model, settings and item digests.
        settings: The run's settings.
        records: Per task, its items' records in the order they were written.
    """

    path: Path
    manifest: dict[str, Any]
    settings: EvalSettings
    records: dict[str, list[AnyRecord]]

    def records_in_order(self, task: str, ids: Iterable[str]) -> list[ItemRecord]:
        """``task``'s multiple-choice records in the order of ``ids`` (e.g. the items', as ground truth).

        Records are stored in the order they were finished, which batching and resumes change.

        Raises:
            InputError: If the task's items are open-ended.
        """
        stored = {record.id: record for record in self.records[task]}
        ordered = [stored[item_id] for item_id in ids]
        mc = [record for record in ordered if isinstance(record, ItemRecord)]
        if len(mc) != len(ordered):
            raise InputError(f"{self.path}: task {task!r} is open-ended; its records hold generated answers.")
        return mc

    @property
    def methods(self) -> tuple[str, ...]:
        """Confidence methods the run computed."""
        return self.settings.extraction.methods

    @property
    def is_open_ended(self) -> bool:
        """Whether the run answered open-ended items (only top-label metrics apply to it)."""
        return isinstance(self.settings.extraction, GenerationSettings)

    @property
    def model(self) -> str:
        """The evaluated model's name as the backend described it."""
        return str(self.manifest.get("model", {}).get("model", self.path.name))

    def results(self) -> EvalResults:
        """The run's ``results.json``."""
        return read_eval_results(self.path)

    def answered_predictions(self, task: str, method: str) -> Predictions | None:
        """``method``'s predictions on the records of ``task`` it gave a confidence; ``None`` if it gave none.

        Raises:
            InputError: If the records lack the scores ``method`` needs.
        """
        records = self.records[task]
        kept = answered(records, method)
        if not kept.any():  # e.g. verbal, where the model never wrote a readable probability
            return None
        return method_predictions(records, method, f"{task}/{method}", kept)

    def subject_rows(self, task: str, method: str) -> dict[str, CalibrationRow]:
        """Per subject of ``task``'s answered records, sorted, the calibration row of ``method`` on them.

        Empty where the answered records have fewer than two subjects (the task's own row says it all).
        """
        records = self.records[task]
        kept = answered(records, method)
        predictions = self.answered_predictions(task, method)
        answered_records = [record for record, keep in zip(records, kept, strict=True) if keep]
        subjects = sorted({record.subject for record in answered_records if record.subject})
        if predictions is None or len(subjects) < 2:
            return {}
        return {
            subject: predictions_row(
                predictions.subset(np.array([record.subject == subject for record in answered_records]))
            )
            for subject in subjects
        }

    def strata_reliability(
        self, task: str, strata: TaskStrata, settings: MetricSettings
    ) -> dict[str, list[ReliabilityBins | None]]:
        """Per method of ``strata`` the run computed, the reliability bins of each stratum, from the records.

        A stratum none of whose items has a confidence by the method has ``None``. The strata are cut
        again with ``strata``'s stratification; where they no longer match its groups (results written
        by an llmcal that cut strata differently), the answer is empty.

        Raises:
            InputError: If some records lack the stratification's field.
        """
        assigned = strata.stratification.assign(self.records[task], task=task)
        if [stratum.label for stratum in assigned.strata] != [group.label for group in strata.groups]:
            return {}
        bins: dict[str, list[ReliabilityBins | None]] = {}
        for method in strata.groups[0].methods if strata.groups else ():
            if method not in self.methods:
                continue
            kept = answered(self.records[task], method)
            predictions = self.answered_predictions(task, method)
            bins[method] = [None] * len(strata.groups)
            for position in range(len(strata.groups)):
                rows = assigned.rows(position)[kept]
                if predictions is not None and rows.any():
                    bins[method][position] = reliability_bins(
                        predictions.confidences[rows], predictions.correct[rows],
                        n_bins=settings.n_bins, strategy=settings.strategy,
                    )  # fmt: skip
        return bins


def read_eval_run(path: str | Path) -> EvalRun:
    """Reads an evaluation's output directory, checking that every item of every task was scored.

    Raises:
        InputError: If the directory is not an evaluation output or the run did not finish.
    """
    root = Path(path)
    manifest = read_manifest(root)
    manifest_path = root / "run.json"
    kind = manifest_kind(manifest)
    if kind not in (EVAL_KIND, None):  # None: not a manifest llmcal wrote, reported below
        raise InputError(
            f"{manifest_path}: a {kind} run, not an evaluation; pass the `out` "
            "directory of `llmcal eval` or `llmcal from-lm-eval`.",
            parameter="out",
        )
    try:
        settings = EvalSettings.from_dict(manifest["settings"])
        expected = {task: int(entry["n_items"]) for task, entry in manifest["tasks"].items()}
        if not isinstance(manifest.get("model", {}), dict):
            raise TypeError("the model section is not an object")
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(f"{manifest_path}: not a run manifest written by `llmcal eval`.") from None
    records: dict[str, list[AnyRecord]] = {task: [] for task in expected}
    for record in RecordStore(root / RECORDS_NAME).load(repair=False).values():
        if record.task not in records:
            raise InputError(
                f"{root / RECORDS_NAME}: item {record.id} of task {record.task!r}, "
                f"which {manifest_path} does not list."
            )
        records[record.task].append(record)
    for task, n_items in expected.items():
        if len(records[task]) != n_items:
            raise InputError(
                f"{root}: task {task!r} has {len(records[task])} of {n_items} items scored; the run did not "
                f"finish. Rerun the same `llmcal eval` command with `out={root}` to complete it.",
                parameter="out",
            )
    return EvalRun(root, manifest, settings, records)
