"""Every kind of run directory llmcal writes, and the one function that reads any of them.

A directory names its kind in ``run.json`` (``kind``), or by its results file for the kinds without a manifest
(``demo.json``, ``comparison.json``, ``study.json``; ``llmcal demo --real`` writes a study). Directories
written before manifests named their kind are recognised by the sections of their manifest; an alignment
written then has no manifest at all.
Adding a kind is one :data:`RUN_KINDS` entry here, and its page under the same name in
:data:`llmcal.reports.sections.SECTIONS` (a test fails until every kind has one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcal.errors import InputError
from llmcal.registry import Registry
from llmcal.runs.comparison import COMPARISON_NAME, read_comparison
from llmcal.runs.demo import DEMO_NAME, read_demo
from llmcal.runs.eval_run import read_eval_run
from llmcal.runs.evaluation import EVAL_KIND, RESULTS_NAME
from llmcal.runs.files import read_json_object
from llmcal.runs.manifest import MANIFEST_NAME, manifest_kind, read_manifest
from llmcal.runs.recalibration import CALIBRATION_KIND, read_recalibration
from llmcal.runs.study import STUDY_NAME, read_study
from llmcal.runs.training import TrainingResults, read_training_results

__all__ = ["RUN_KINDS", "RunKind", "RunOutput", "TrainingRun", "read_output", "run_kind", "settings_text"]


@dataclass(frozen=True)
class TrainingRun:
    """A finished fine-tuning or alignment run.

    Attributes:
        path: The directory.
        manifest: ``run.json``, or ``None`` for an alignment written before alignments had one.
        results: ``results.json``.
    """

    path: Path
    manifest: dict[str, Any] | None
    results: TrainingResults


def _read_training_run(path: Path) -> TrainingRun:
    manifest = read_manifest(path) if (path / MANIFEST_NAME).is_file() else None
    return TrainingRun(path, manifest, read_training_results(path))


@dataclass(frozen=True)
class RunKind:
    """One kind of output directory.

    Attributes:
        title: What wrote it, for headings and messages.
        read: Reads a directory of this kind into its typed form.
    """

    title: str
    read: Callable[[Path], Any]


RUN_KINDS: Registry[RunKind] = Registry("run kind")
RUN_KINDS.add("demo", RunKind("Demo", read_demo))
RUN_KINDS.add("comparison", RunKind("Comparison", read_comparison))
RUN_KINDS.add(EVAL_KIND, RunKind("Evaluation", read_eval_run))
RUN_KINDS.add("finetune", RunKind("Fine-tuning", _read_training_run))
RUN_KINDS.add("align", RunKind("Alignment", _read_training_run))
RUN_KINDS.add(CALIBRATION_KIND, RunKind("Post-hoc calibration", read_recalibration))
RUN_KINDS.add("study", RunKind("The papers' claims, decided", read_study))


@dataclass(frozen=True)
class RunOutput:
    """A directory read as its kind: ``kind`` names the :data:`RUN_KINDS` entry, ``run`` its typed form."""

    path: Path
    kind: str
    run: Any


def run_kind(path: Path) -> str:
    """The kind of the output directory ``path``.

    Raises:
        InputError: If ``path`` is not a directory llmcal wrote.
    """
    if not path.is_dir():
        raise InputError(
            f"{path}: not a directory; pass llmcal output directories (eval, compare, demo, ...)."
        )
    if (path / DEMO_NAME).is_file():
        return "demo"
    if (path / COMPARISON_NAME).is_file():
        return "comparison"
    if (path / STUDY_NAME).is_file():
        return "study"
    if (path / MANIFEST_NAME).is_file():
        kind = manifest_kind(read_manifest(path))
        if kind is None:
            raise InputError(f"{path / MANIFEST_NAME}: names no run kind and has none of the sections llmcal "
                             "writes; not an llmcal run manifest.")  # fmt: skip
        RUN_KINDS.get(kind)  # an unknown kind fails here, with suggestions
        return kind
    if (path / RESULTS_NAME).is_file() and "n_pairs" in read_json_object(path / RESULTS_NAME):
        return "align"  # alignments written before they had a manifest
    raise InputError(
        f"{path}: not an llmcal output directory (expected {DEMO_NAME}, {COMPARISON_NAME}, {STUDY_NAME} "
        f"or {MANIFEST_NAME})."
    )


def read_output(path: str | Path) -> RunOutput:
    """Reads any llmcal output directory as its kind.

    Raises:
        InputError: If the directory is not one llmcal wrote, is incomplete, or was written in a newer
            run format.
    """
    root = Path(path)
    kind = run_kind(root)
    return RunOutput(root, kind, RUN_KINDS.get(kind).read(root))


def settings_text(settings: Any) -> str:
    """A run's settings (their JSON form) as people read them: indented JSON, keys sorted.

    Values JSON has no type for (paths) read as text, and non-ASCII characters as themselves.
    """
    return json.dumps(settings, indent=2, sort_keys=True, default=str, ensure_ascii=False)
