"""lm-evaluation-harness ``--log_samples`` files as llmcal records, so an existing run gets ECE, SCE, Brier.

lm-eval writes one ``samples_<task>_<date>.jsonl`` per task. For ``multiple_choice`` tasks each line holds
one document: ``arguments`` (one ``(context, continuation)`` pair per choice, ``gen_args_0``,
``gen_args_1``, ...), ``filtered_resps`` (one ``[log-likelihood, is_greedy]`` per choice, as strings),
``target`` (the gold choice's index, or its text) and the logged metrics (``acc``, ``acc_norm``). Each line
becomes an :class:`~llmcal.confidence.records.ItemRecord` whose options carry lm-eval's log-likelihoods,
so the ``sum`` method (lm-eval's ``acc``) applies; per-token log-probabilities are not logged by lm-eval,
so ``mean`` and ``min`` cannot be recomputed.

The gold index: a ``target`` of digits below the number of choices is an index (what ``doc_to_target``
returns for most tasks, written with ``str``); otherwise it must equal one choice's text (the continuation
without its leading space).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.evaluation import FigureRenderer, summarize_records
from llmcal.jsonl import read_jsonl
from llmcal.locking import OutputLock
from llmcal.runs.evaluation import EVAL_KIND, EvalResults, EvalSettings, write_eval_results
from llmcal.runs.manifest import build_manifest, check_resume, write_manifest
from llmcal.runs.records import write_records
from llmcal.scoring.requests import ContinuationScore

__all__ = ["HarnessTask", "import_lm_eval_run", "read_lm_eval_samples", "task_name_from_filename"]

# samples_<task>_<ISO date with ':' replaced by '-'>.jsonl, as lm-eval's EvaluationTracker names them.
_SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.]+)\.jsonl$")


@dataclass(frozen=True)
class HarnessTask:
    """One task's samples read from an lm-eval samples file.

    Attributes:
        name: Task name (from the file name).
        records: One record per document, in file order.
        lm_eval_accuracy: Mean of the samples' logged ``acc``, or ``None`` if lm-eval logged none.
        source: The file.
    """

    name: str
    records: list[ItemRecord]
    lm_eval_accuracy: float | None
    source: Path


def task_name_from_filename(path: str | Path) -> str:
    """``arc_easy`` from ``samples_arc_easy_2026-11-23T10-00-00.123456.jsonl`` (else the file's stem)."""
    name = Path(path).name
    match = _SAMPLES_NAME.match(name)
    return match.group("task") if match else Path(name).stem


def _float(value: Any, where: str, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {field} must be a number; got {value!r}.") from None
    if not math.isfinite(number):
        raise InputError(f"{where}: {field} is {number}; the model produced NaN/inf for this document.")
    return number


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _pairs(sample: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """The ``(context, continuation)`` per choice: lm-eval's saved dict form or its in-memory list form."""
    arguments = sample.get("arguments")
    if isinstance(arguments, dict):
        ordered = [arguments[f"gen_args_{i}"] for i in range(len(arguments)) if f"gen_args_{i}" in arguments]
        if len(ordered) != len(arguments):
            raise InputError(f"{where}: 'arguments' keys must be gen_args_0, gen_args_1, ...")
        arguments = [[entry.get("arg_0"), entry.get("arg_1")] if isinstance(entry, dict) else entry
                     for entry in ordered]  # fmt: skip
    if not isinstance(arguments, list) or not arguments:
        raise InputError(f"{where}: 'arguments' must list one (context, continuation) pair per choice.")
    pairs: list[tuple[str, str]] = []
    for entry in arguments:
        if not (
            isinstance(entry, list | tuple) and len(entry) == 2 and all(isinstance(x, str) for x in entry)
        ):
            raise InputError(
                f"{where}: expected (context, continuation) string pairs in 'arguments', found {entry!r}; "
                "from-lm-eval reads multiple_choice tasks (per-choice log-likelihoods) only."
            )
        pairs.append((entry[0], entry[1]))
    return pairs


def _responses(sample: dict[str, Any], n_choices: int, where: str) -> list[tuple[float, bool]]:
    responses = sample.get("filtered_resps")
    if responses is None:  # older files: the raw responses, one singleton list per request
        raw = sample.get("resps")
        raw = raw if isinstance(raw, list) else []
        responses = [entry[0] if isinstance(entry, list) and entry else entry for entry in raw]
    if not isinstance(responses, list) or len(responses) != n_choices:
        raise InputError(
            f"{where}: expected one [log-likelihood, is_greedy] response per choice ({n_choices}); "
            f"found {responses!r}."
        )
    parsed: list[tuple[float, bool]] = []
    for index, response in enumerate(responses):
        if not isinstance(response, list | tuple) or len(response) != 2:
            raise InputError(
                f"{where}: response {index} must be [log-likelihood, is_greedy]; got {response!r}."
            )
        parsed.append(
            (_float(response[0], where, f"the log-likelihood of choice {index}"), _flag(response[1]))
        )
    return parsed


def _gold(target: Any, continuations: list[str], where: str) -> int:
    text = str(target).strip()
    if text.isascii() and text.isdigit() and int(text) < len(continuations):
        return int(text)
    matches = [index for index, continuation in enumerate(continuations) if continuation.strip() == text]
    if len(matches) == 1:
        return matches[0]
    raise InputError(
        f"{where}: target {target!r} is neither a choice index below {len(continuations)} nor exactly one "
        f"choice's text ({[c.strip() for c in continuations]})."
    )


def read_lm_eval_samples(path: str | Path) -> HarnessTask:
    """Reads one lm-eval samples file of a multiple-choice task.

    Raises:
        InputError: Naming ``file:line`` and the field, for a missing or empty file, bad JSON, a
            non-multiple-choice task, a document listed twice, or a target that names no choice.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: no such file; expected an lm-eval samples_<task>_<date>.jsonl.")
    task = task_name_from_filename(source)
    records: list[ItemRecord] = []
    accuracies: list[float] = []
    seen: set[str] = set()
    first_filter: str | None = None
    for line_number, sample in read_jsonl(source):
        where = f"{source}:{line_number}"
        if not isinstance(sample, dict) or "doc_id" not in sample:
            raise InputError(f"{where}: expected an lm-eval sample object with a 'doc_id'.")
        sample_filter = str(sample.get("filter", "none"))
        first_filter = sample_filter if first_filter is None else first_filter
        if sample_filter != first_filter:
            continue  # the same documents again under another filter; the first filter is read
        item_id = str(sample["doc_id"])
        if item_id in seen:
            raise InputError(f"{where}: document {item_id} appears twice; one samples file per run.")
        seen.add(item_id)
        pairs = _pairs(sample, where)
        responses = _responses(sample, len(pairs), where)
        if len(pairs) < 2:
            raise InputError(f"{where}: a multiple-choice document needs at least two choices.")
        answer = _gold(sample.get("target"), [continuation for _, continuation in pairs], where)
        options = tuple(ContinuationScore((total,), greedy) for total, greedy in responses)
        records.append(ItemRecord(task, item_id, answer, len(pairs), None, options, None))
        if "acc" in sample:
            accuracies.append(_float(sample["acc"], where, "acc"))
    if not records:
        raise InputError(f"{source}: no samples in the file.")
    accuracy = sum(accuracies) / len(accuracies) if len(accuracies) == len(records) else None
    return HarnessTask(task, records, accuracy, source)


def _model_name(samples_file: Path) -> str:
    """The model lm-eval recorded in a ``results_*.json`` beside the samples, else ``"lm-eval run"``."""
    for results_file in sorted(samples_file.parent.glob("results_*.json"), reverse=True):
        try:
            name = json.loads(results_file.read_text(encoding="utf-8")).get("model_name")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            continue
        if isinstance(name, str) and name:
            return name
    return "lm-eval run"


def import_lm_eval_run(
    files: list[Path], out_dir: str | Path, settings: EvalSettings, *, render: FigureRenderer | None = None
) -> tuple[list[HarnessTask], EvalResults]:
    """Reads samples files and writes an ``llmcal eval``-style output directory from them.

    The directory holds ``run.json``, ``records.jsonl``, ``results.json`` and ``bins.csv`` (and, with
    ``render``, figures), so ``llmcal compare`` and ``llmcal report`` read it like any evaluation. Every
    file is read and checked before anything is written.

    Returns:
        The tasks read and the results written to ``results.json``.

    Raises:
        InputError: For a bad file (see :func:`read_lm_eval_samples`), two files of the same task, or an
            output directory that holds a different run.
    """
    if not files:
        raise InputError("No samples files given; pass lm-eval's samples_<task>_<date>.jsonl files.")
    tasks = [read_lm_eval_samples(path) for path in files]
    names = [task.name for task in tasks]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(
            f"task {repeated[0]!r} comes from more than one file; import one run's samples at a time."
        )
    out = Path(out_dir)
    manifest = build_manifest(
        EVAL_KIND,
        model={"backend": "lm-eval samples", "model": _model_name(files[0])},
        settings=settings.to_dict(),
        tasks={task.name: task.records for task in tasks},
        sources=[str(task.source) for task in tasks],
    )
    with OutputLock(out, "llmcal from-lm-eval"):
        check_resume(out, manifest)
        records = {task.name: task.records for task in tasks}
        write_records(out, records)
        results = summarize_records(records, settings)
        write_eval_results(out, results)
        if render is not None:
            render(out, results)
        write_manifest(out, manifest)  # last: a directory with run.json is a complete import
    return tasks, results
