"""An evaluation run on disk: its settings, its typed results, and reading a finished run back.

Directory layout::

    run.json                          kind "eval": model, settings, item digests (a resume must match)
    records.jsonl                     one ItemRecord per item, appended as batches finish
    results.json                      every metric with bootstrap CIs, per task x confidence method
                                      (and per stratum with ``llmcal eval --by FIELD``)
    bins.csv                          reliability-bin data per task x confidence method
    reliability_<task>_<method>.png   reliability diagrams (drawn by :mod:`llmcal.reports`)
    bins_<by>.csv                     with ``--by``: reliability-bin data per task x method x stratum
    reliability_<task>_<method>_by_<by>.png   with ``--by``: one diagram per stratum

Strata change the results but not the records: a :class:`Stratification` is therefore not part of the
:class:`EvalSettings` that ``run.json`` holds and a resumed run must match. A finished run can be
summarised again with another ``--by`` (or none); ``results.json`` records the stratification of each
task's strata beside them, and the files named by field are rewritten only for that field.

A finished run read back with its records, and what it recomputes from them for people, is
:class:`llmcal.runs.eval_run.EvalRun`.

Why it is long: it is one format, the typed results of an evaluation (per task, method and stratum) with
their JSON and CSV forms; each type's ``to_dict`` and ``from_dict`` sit together so they cannot drift.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from llmcal import __version__
from llmcal.atomic import write_text_atomic
from llmcal.confidence.extraction import ExtractionSettings
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.errors import InputError
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.strata import Strata, StrataKind, stratify
from llmcal.metrics.summary import Summary
from llmcal.runs.files import parse_file
from llmcal.runs.manifest import as_json
from llmcal.tasks.fields import HasFields, field_values

__all__ = [
    "EVAL_KIND",
    "FILE_PART_MAX",
    "RESULTS_NAME",
    "AnswerStats",
    "EvalResults",
    "EvalSettings",
    "MissingConfidence",
    "Stratification",
    "StratumResults",
    "TaskResults",
    "TaskStrata",
    "file_part",
    "read_eval_results",
    "strata_bins_name",
    "write_eval_results",
]

EVAL_KIND = "eval"
RESULTS_NAME = "results.json"
_BINS_COLUMNS = ["task", "method", "bin", "lower", "upper", "count", "mean_confidence", "accuracy"]
_STRATA_BINS_COLUMNS = [*_BINS_COLUMNS[:2], "stratum", *_BINS_COLUMNS[2:]]


@dataclass(frozen=True)
class EvalSettings:
    """Everything besides the model and items that determines an evaluation's results.

    Attributes:
        extraction: Confidence methods and how items are prompted: multiple-choice items are scored
            (:class:`ExtractionSettings`), open-ended ones answered (:class:`GenerationSettings`).
        metrics: Binning and bootstrap settings of every metric.
    """

    extraction: ExtractionSettings | GenerationSettings
    metrics: MetricSettings = field(default_factory=MetricSettings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the extraction settings, then the metric settings at the top level."""
        extraction = asdict(self.extraction)
        for name in ("sampling", "nli"):  # runs that sample nothing keep their earlier form
            if extraction.get(name, ...) is None:
                del extraction[name]
        data: dict[str, Any] = as_json({"extraction": extraction, **asdict(self.metrics)})
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalSettings:
        """Inverse of :meth:`to_dict`."""
        extraction = dict(data["extraction"])
        methods = extraction["methods"]
        if not isinstance(methods, list | tuple) or not all(isinstance(name, str) for name in methods):
            raise TypeError(f"methods must be a list of names; found {methods!r}")
        extraction["methods"] = tuple(methods)
        metrics = {key: data[key] for key in asdict(MetricSettings()) if key in data}
        # Only the settings of open-ended runs limit the answer's length.
        kind = GenerationSettings if "max_new_tokens" in extraction else ExtractionSettings
        return cls(kind(**extraction), MetricSettings(**metrics))


@dataclass(frozen=True)
class Stratification:
    """How results are broken down by one field of the items (``llmcal eval --by FIELD --strata N``).

    Not part of :class:`EvalSettings`: strata change the results, not the records, so a run resumed or
    summarised again with another stratification is still the same run.

    Attributes:
        by: The field: ``subject`` or a metadata field of the items (e.g. ``popularity``).
        n_strata: The most quantile strata of a numeric field (text and true/false fields get one
            stratum per value).
    """

    by: str
    n_strata: int = 4

    def __post_init__(self) -> None:
        if not self.by.strip():
            raise InputError(
                "The field to stratify by is empty; name a field of the items (`by=subject`).", parameter="by"
            )
        if isinstance(self.n_strata, bool) or not isinstance(self.n_strata, int) or self.n_strata < 1:
            raise InputError(f"The number of strata must be a positive integer; got {self.n_strata!r}.")

    def record(self, kind: StrataKind) -> dict[str, Any]:
        """The head of a stratified result's JSON form, ``by``, ``n_strata`` and the strata's ``kind``.

        Evaluation results and ``llmcal metrics`` output write their strata under the same head.
        """
        return {"by": self.by, "n_strata": self.n_strata, "kind": kind}

    def assign(self, items: Sequence[HasFields], *, task: str) -> Strata:
        """The strata of a task's items (or their records) by :attr:`by`.

        Raises:
            InputError: If some items lack the field (naming the field, how many and the fields they have),
                or its values mix kinds.
        """
        values = field_values(items, self.by, task=task)
        try:
            return stratify(values, n_strata=self.n_strata)
        except InputError as error:
            raise InputError(f"task {task!r}, field {self.by!r}: {error}") from None


@dataclass(frozen=True)
class StratumResults:
    """One stratum of a task: its items' range or value, and every method's summary over those items.

    Attributes:
        label: The stratum's value range (``"1.2e5–3.4e6"``) or value (``"capital"``).
        lower: Smallest value in the stratum (numeric fields only).
        upper: Largest value in the stratum (numeric fields only).
        n_items: Items in the stratum.
        mean_confidence: Per method, the mean confidence in the predicted option.
        methods: Per method, every metric over the stratum's items.
    """

    label: str
    lower: float | None
    upper: float | None
    n_items: int
    mean_confidence: dict[str, float]
    methods: dict[str, Summary]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: each method's mean confidence first in its entry, then its summary."""
        data: dict[str, Any] = {"label": self.label}
        if self.lower is not None and self.upper is not None:
            data.update(lower=self.lower, upper=self.upper)
        data["n_items"] = self.n_items
        data["methods"] = {
            method: {
                # None where the method gave no confidence in the stratum: strict JSON has no NaN.
                "mean_confidence": _none_if_nan(self.mean_confidence[method]),
                **replace(summary, reliability=None).to_dict(),
            }
            for method, summary in self.methods.items()
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StratumResults:
        """Inverse of :meth:`to_dict` (without the reliability bins)."""
        lower, upper = data.get("lower"), data.get("upper")
        methods = data["methods"]
        return cls(
            str(data["label"]),
            None if lower is None else float(lower),
            None if upper is None else float(upper),
            int(data["n_items"]),
            {method: _nan_if_none(entry["mean_confidence"]) for method, entry in methods.items()},
            {method: Summary.from_dict(entry) for method, entry in methods.items()},
        )


@dataclass(frozen=True)
class TaskStrata:
    """A task's results per stratum.

    Attributes:
        stratification: The field and the most strata asked for.
        kind: ``"quantile"`` (numeric field) or ``"categorical"`` (one stratum per value).
        groups: The strata in increasing order of value.
    """

    stratification: Stratification
    kind: StrataKind
    groups: list[StratumResults]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``by``, ``n_strata``, ``kind`` and the groups."""
        return {**self.stratification.record(self.kind), "groups": [group.to_dict() for group in self.groups]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskStrata:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: If ``kind`` is not a kind of strata.
        """
        kind = data["kind"]
        if kind not in ("quantile", "categorical"):
            raise ValueError(f"unknown kind of strata {kind!r}")
        return cls(
            Stratification(str(data["by"]), int(data["n_strata"])),
            kind,
            [StratumResults.from_dict(group) for group in data["groups"]],
        )


class MissingConfidence(NamedTuple):
    """The answers of an open-ended task that one method gave no confidence, and why."""

    method: str
    n_answers: int
    problems: dict[str, int]


@dataclass(frozen=True)
class AnswerStats:
    """How good an open-ended task's generated answers are, and which methods gave some no confidence.

    Attributes:
        exact_match: Share of answers matching an accepted answer after normalisation (the accuracy).
        token_f1: Mean over items of the best token F1 against the accepted answers.
        no_confidence: Per method, answers it gave no confidence (e.g. ``verbal`` answers without a
            readable number); the method's metrics are over the other answers.
        problems: Per method with such answers, how many had each problem (``"no number": 12``).
    """

    exact_match: float
    token_f1: float
    no_confidence: dict[str, int]
    problems: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    def missing_confidences(self) -> list[MissingConfidence]:
        """Each method that gave some answers no confidence, with how many and why, in method order."""
        return [
            MissingConfidence(method, count, self.problems.get(method, {}))
            for method, count in self.no_confidence.items()
            if count
        ]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnswerStats:
        """Inverse of :meth:`to_dict`."""
        return cls(
            float(data["exact_match"]),
            float(data["token_f1"]),
            {str(method): int(count) for method, count in data["no_confidence"].items()},
            {
                str(method): {str(problem): int(count) for problem, count in counts.items()}
                for method, counts in data.get("problems", {}).items()
            },
        )


@dataclass(frozen=True)
class TaskResults:
    """One task's results: its number of items and, per confidence method, every metric's summary.

    Attributes:
        strata: The same per stratum of the items, when the results were stratified.
        answers: Open-ended tasks: how good the answers are and which methods left some unconfident.
    """

    n_items: int
    methods: dict[str, Summary]
    strata: TaskStrata | None = None
    answers: AnswerStats | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``strata`` only when present, so unstratified results read as they always did."""
        data: dict[str, Any] = {
            "n_items": self.n_items,
            "methods": {
                method: replace(summary, reliability=None).to_dict()
                for method, summary in self.methods.items()
            },
        }
        if self.strata is not None:
            data["strata"] = self.strata.to_dict()
        if self.answers is not None:
            data["answers"] = self.answers.to_dict()
        return data

    def confidence_problems(self, method: str) -> dict[str, int]:
        """Why ``method`` gave answers no confidence, with how many of each (empty for multiple choice)."""
        return self.answers.problems.get(method, {}) if self.answers is not None else {}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskResults:
        """Inverse of :meth:`to_dict` (without the reliability bins)."""
        strata, answers = data.get("strata"), data.get("answers")
        return cls(
            int(data["n_items"]),
            {method: Summary.from_dict(summary) for method, summary in data["methods"].items()},
            None if strata is None else TaskStrata.from_dict(strata),
            None if answers is None else AnswerStats.from_dict(answers),
        )


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
            "tasks": {name: task.to_dict() for name, task in self.tasks.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalResults:
        """Inverse of :meth:`to_dict` (without the reliability bins)."""
        tasks = {name: TaskResults.from_dict(task) for name, task in data["tasks"].items()}
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

    @property
    def stratification(self) -> Stratification | None:
        """The stratification of the tasks' strata (one per evaluation), or ``None`` if not stratified."""
        return next((task.strata.stratification for task in self.tasks.values() if task.strata), None)

    @property
    def strata_kinds(self) -> list[StrataKind]:
        """The kinds of the tasks' strata (quantile, categorical), sorted; empty if not stratified."""
        return sorted({task.strata.kind for task in self.tasks.values() if task.strata is not None})

    def strata_bins_csv(self) -> str:
        """``bins_<by>.csv``: the reliability bins of every task x method x stratum that has them.

        The columns of ``bins.csv`` with ``stratum`` (its label) after ``method``.
        """
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_STRATA_BINS_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for name, task in self.tasks.items():
            for group in task.strata.groups if task.strata else ():
                for method, summary in group.methods.items():
                    if summary.reliability is not None:
                        writer.writerows(
                            {"task": name, "method": method, "stratum": group.label, **row}
                            for row in summary.reliability.to_rows()
                        )
        return buffer.getvalue()


def strata_bins_name(by: str) -> str:
    """The file name of the per-stratum bins of field ``by``: ``bins_<by>.csv``, ``by`` as :func:`file_part`.

    Examples:
        >>> strata_bins_name("popularity"), strata_bins_name("a/b c")
        ('bins_popularity.csv', 'bins_a_b_c-0af99a60.csv')
    """
    return f"bins_{file_part(by)}.csv"


FILE_PART_MAX = 64
"""The most characters of a :func:`file_part`: three of them and their prefix fit a file name's 255 bytes."""
_FILE_PART_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_HASH_CHARS = 8


def file_part(text: str) -> str:
    """``text`` (a task, method or field name) made safe as part of a file name; distinct texts stay distinct.

    A text of ASCII letters, digits, ``-``, ``_`` and ``.`` (not first), of at most :data:`FILE_PART_MAX`
    characters, stays as it is (``MyQuiz`` names ``reliability_MyQuiz_sum.png``). Any other is spelt in
    those characters: accents dropped, every other character ``_``, a leading dot ``_``, cut to length,
    and followed by ``-`` and 8 hex digits of its SHA-256. So no part holds a path separator, NUL or ``..``
    alone, none starts with a dot, and two texts that would spell alike (``a/b`` and ``a_b``, ``é``
    composed and decomposed) still name different files. Two tasks named alike but for case (``Foo``,
    ``foo``) share a file on a case-insensitive file system (macOS, Windows); name them apart.

    Examples:
        >>> file_part("seq-prob"), file_part("../x"), file_part("MyQuiz")
        ('seq-prob', '_._x-d6b96a97', 'MyQuiz')
    """
    if text and len(text) <= FILE_PART_MAX and not text.startswith(".") and set(text) <= _FILE_PART_CHARS:
        return text
    letters = "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))
    spelt = "".join(char if char in _FILE_PART_CHARS else "_" for char in letters)
    if spelt.startswith("."):
        spelt = "_" + spelt[1:]
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    return f"{spelt[: FILE_PART_MAX - _HASH_CHARS - 1]}-{digest}"


def write_eval_results(out: Path, results: EvalResults) -> None:
    """Writes ``results.json`` and ``bins.csv`` to ``out``, each atomically.

    Stratified results that still hold their reliability bins also write ``bins_<by>.csv``.
    """
    write_text_atomic(out / RESULTS_NAME, json.dumps(results.to_dict(), indent=2) + "\n")
    write_text_atomic(out / "bins.csv", results.bins_csv())
    stratification = results.stratification
    if stratification is not None and results.strata_bins_csv().count("\n") > 1:
        write_text_atomic(out / strata_bins_name(stratification.by), results.strata_bins_csv())


def read_eval_results(out: Path) -> EvalResults:
    """``out/results.json`` of a finished evaluation.

    Raises:
        InputError: If it is missing or does not have the structure llmcal writes.
    """
    path = out / RESULTS_NAME
    if not path.is_file():
        raise InputError(
            f"{out}: no {RESULTS_NAME}; rerun the same `llmcal eval` command with `out={out}` "
            "to finish the run.",
            parameter="out",
        )
    return parse_file(path, "the results of an evaluation", EvalResults.from_dict)


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)
