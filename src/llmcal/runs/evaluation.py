"""An evaluation run on disk: its settings, its typed results, and reading a finished run back.

Directory layout::

    run.json                          kind "eval": model, settings, item digests (a resume must match)
    records.jsonl                     one ItemRecord per item, appended as batches finish
    results.json                      every metric with bootstrap CIs, per task x confidence method
    bins.csv                          reliability-bin data per task x confidence method
    reliability_<task>_<method>.png   reliability diagrams (drawn by :mod:`llmcal.reports`)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from llmcal import __version__
from llmcal.atomic import write_text_atomic
from llmcal.confidence.extraction import ExtractionSettings
from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import Summary
from llmcal.runs.files import parse_file
from llmcal.runs.manifest import as_json, manifest_kind, read_manifest
from llmcal.runs.records import RECORDS_NAME, RecordStore

__all__ = [
    "EVAL_KIND",
    "RESULTS_NAME",
    "EvalResults",
    "EvalRun",
    "EvalSettings",
    "TaskResults",
    "read_eval_results",
    "read_eval_run",
    "write_eval_results",
]

EVAL_KIND = "eval"
RESULTS_NAME = "results.json"
_BINS_COLUMNS = ["task", "method", "bin", "lower", "upper", "count", "mean_confidence", "accuracy"]


@dataclass(frozen=True)
class EvalSettings:
    """Everything besides the model and items that determines an evaluation's results.

    Attributes:
        extraction: Confidence methods and how items are prompted.
        metrics: Binning and bootstrap settings of every metric.
    """

    extraction: ExtractionSettings
    metrics: MetricSettings = field(default_factory=MetricSettings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the extraction settings, then the metric settings at the top level."""
        data: dict[str, Any] = as_json({"extraction": asdict(self.extraction), **asdict(self.metrics)})
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalSettings:
        """Inverse of :meth:`to_dict`."""
        extraction = dict(data["extraction"])
        extraction["methods"] = tuple(extraction["methods"])
        metrics = {key: data[key] for key in asdict(MetricSettings()) if key in data}
        return cls(ExtractionSettings(**extraction), MetricSettings(**metrics))


@dataclass(frozen=True)
class TaskResults:
    """One task's results: its number of items and, per confidence method, every metric's summary."""

    n_items: int
    methods: dict[str, Summary]


@dataclass(frozen=True)
class EvalResults:
    """``results.json`` of an evaluation.

    Attributes:
        settings: The settings the results were computed with.
        tasks: Per task, its results.
        llmcal_version: The llmcal that computed them.
    """

    settings: EvalSettings
    tasks: dict[str, TaskResults]
    llmcal_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; reliability bins go to ``bins.csv`` instead."""
        return {
            "llmcal_version": self.llmcal_version,
            "settings": self.settings.to_dict(),
            "tasks": {
                name: {
                    "n_items": task.n_items,
                    "methods": {
                        method: replace(summary, reliability=None).to_dict()
                        for method, summary in task.methods.items()
                    },
                }
                for name, task in self.tasks.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalResults:
        """Inverse of :meth:`to_dict` (without the reliability bins)."""
        tasks = {
            name: TaskResults(
                int(task["n_items"]),
                {method: Summary.from_dict(summary) for method, summary in task["methods"].items()},
            )
            for name, task in data["tasks"].items()
        }
        return cls(EvalSettings.from_dict(data["settings"]), tasks, str(data["llmcal_version"]))

    def bins_csv(self) -> str:
        """``bins.csv``: the reliability bins of every task x method that has them."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_BINS_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for name, task in self.tasks.items():
            for method, summary in task.methods.items():
                if summary.reliability is not None:
                    rows = summary.reliability.to_rows()
                    writer.writerows({"task": name, "method": method, **row} for row in rows)
        return buffer.getvalue()


def write_eval_results(out: Path, results: EvalResults) -> None:
    """Writes ``results.json`` and ``bins.csv`` to ``out``, each atomically."""
    write_text_atomic(out / RESULTS_NAME, json.dumps(results.to_dict(), indent=2) + "\n")
    write_text_atomic(out / "bins.csv", results.bins_csv())


def read_eval_results(out: Path) -> EvalResults:
    """``out/results.json`` of a finished evaluation.

    Raises:
        InputError: If it is missing or does not have the structure llmcal writes.
    """
    path = out / RESULTS_NAME
    if not path.is_file():
        raise InputError(
            f"{out}: no {RESULTS_NAME}; rerun the same `llmcal eval` command with --out {out} "
            "to finish the run."
        )
    return parse_file(path, "the results of an evaluation", EvalResults.from_dict)


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
    records: dict[str, list[ItemRecord]]

    @property
    def methods(self) -> tuple[str, ...]:
        """Confidence methods the run computed."""
        return self.settings.extraction.methods

    @property
    def model(self) -> str:
        """The evaluated model's name as the backend described it."""
        return str(self.manifest.get("model", {}).get("model", self.path.name))

    def results(self) -> EvalResults:
        """The run's ``results.json``."""
        return read_eval_results(self.path)


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
            f"{manifest_path}: a {kind} run, not an evaluation; pass the --out "
            "directory of `llmcal eval` or `llmcal from-lm-eval`."
        )
    try:
        settings = EvalSettings.from_dict(manifest["settings"])
        expected = {task: int(entry["n_items"]) for task, entry in manifest["tasks"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(f"{manifest_path}: not a run manifest written by `llmcal eval`.") from None
    records: dict[str, list[ItemRecord]] = {task: [] for task in expected}
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
                f"finish. Rerun the same `llmcal eval` command with --out {root} to complete it."
            )
    return EvalRun(root, manifest, settings, records)
