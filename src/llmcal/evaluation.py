"""The evaluation loop: score tasks' items, keep per-item records as they finish, write the results.

Multiple-choice items are scored option by option (:mod:`llmcal.confidence.extraction`); open-ended ones
are answered and their answers judged (:mod:`llmcal.confidence.generation_extraction`). Either way the
records are summarised with every metric that applies, per task and confidence method.

The run directory's layout is :mod:`llmcal.runs.evaluation`'s. One run writes to a directory at a time
(:class:`llmcal.locking.OutputLock`). A killed run resumes from ``records.jsonl``, byte for byte the
run it would have been uninterrupted:

- items are scored in chunks on a fixed grid of each task's items (positions ``0-63``, ``64-127``, ...),
  not of the items still pending, so a resumed chunk holds the same items, batched the same way, as it
  would have: a model's float results depend on what else is in its batch (padding, kernel shapes);
- a chunk whose records are not all on disk (the kill tore its append) is scored again whole, and the
  records read last win; ``records.jsonl`` is then rewritten in item order, as an uninterrupted run
  leaves it;
- the results are computed from the records in item order.

Every file but the append-only records is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.confidence.answer_equivalence import AliasTable
from llmcal.confidence.backend_operations import check_backend_operations
from llmcal.confidence.extraction import extract_records
from llmcal.confidence.generation_extraction import GenerationSettings, extract_generation_records
from llmcal.confidence.generation_methods import GENERATION_METHODS
from llmcal.confidence.predictions import answered, method_predictions
from llmcal.confidence.records import AnyRecord, GenerationRecord
from llmcal.distributed import SINGLE_PROCESS, Shard
from llmcal.errors import InputError
from llmcal.locking import OutputLock
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.strata import Strata, summarize_strata
from llmcal.metrics.summary import summarize
from llmcal.runs.evaluation import (
    EVAL_KIND,
    AnswerStats,
    EvalResults,
    EvalSettings,
    Stratification,
    StratumResults,
    TaskResults,
    TaskStrata,
    read_eval_results,
    write_eval_results,
)
from llmcal.runs.manifest import MANIFEST_NAME, build_manifest, check_resume, write_manifest
from llmcal.runs.records import (
    RECORDS_NAME,
    RecordStore,
    has_rank_files,
    load_records,
    merge_records,
    rank_records_name,
)
from llmcal.scoring.requests import ScoringBackend
from llmcal.tasks.answers import exact_match, token_f1
from llmcal.tasks.schema import MCItem, OpenItem
from llmcal.tasks.selection import EvalTask

__all__ = [
    "FigureRenderer",
    "check_stratification",
    "evaluate",
    "summarize_records",
]

# Items scored between two appends to records.jsonl: the most work a crash can lose.
_CHUNK_ITEMS = 64

# Draws figures of finished results into the run directory (e.g. :func:`llmcal.reports.reliability.
# save_reliability_pngs`); the loop itself draws nothing.
FigureRenderer = Callable[[Path, EvalResults], None]


def evaluate(
    tasks: Sequence[EvalTask],
    backend: ScoringBackend,
    settings: EvalSettings,
    out_dir: str | Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    render: FigureRenderer | None = None,
    shard: Shard = SINGLE_PROCESS,
    stratification: Stratification | None = None,
) -> EvalResults:
    """Runs (or resumes) an evaluation into ``out_dir`` and returns the results written to results.json.

    In a data-parallel run (``shard.world_size > 1``) each process scores every ``world_size``-th pending
    item into its own records file; the main process then merges them into ``records.jsonl`` in item order
    and writes the results, which are the same as a single process's. A resumed run may use any number of
    processes.

    Args:
        tasks: Tasks with their items, already loaded and validated.
        backend: The model.
        settings: Methods, prompting and metric settings.
        out_dir: Output directory (created if needed; an existing run there is resumed).
        on_progress: Called with the number of item-passes finished (each method family is one pass).
        render: Draws figures of the results into ``out_dir`` once they are written (main process only).
        shard: This process's place in a data-parallel run (see :mod:`llmcal.distributed`).
        stratification: Also summarise each task per stratum of this field of its items. Not part of
            the run's settings: a finished run may be summarised again with another one.

    Raises:
        InputError: If ``out_dir`` holds a run with different settings, or some items lack the field to
            stratify by (checked before anything is scored or written).
    """
    job = _Job(tasks, backend, settings, Path(out_dir), on_progress, render, shard, stratification)
    check_task_kinds(tasks, settings)
    check_backend_operations(settings.extraction, backend)
    check_stratification(tasks, stratification)
    if not shard.is_main:
        # The main process holds the lock and has checked the directory by the first barrier.
        shard.barrier()
        return _run(job)
    return _run_as_main(job)


@dataclass(frozen=True)
class _Job:
    """One call of :func:`evaluate`: what it scores, with what, and where it writes (see its arguments)."""

    tasks: Sequence[EvalTask]
    backend: ScoringBackend
    settings: EvalSettings
    out: Path
    on_progress: Callable[[int], None] | None
    render: FigureRenderer | None
    shard: Shard
    stratification: Stratification | None


def _run_as_main(job: _Job) -> EvalResults:
    """The main process's run: lock the directory, check and write the manifest, then :func:`_run`."""
    out = job.out
    uses_fewshot = job.settings.extraction.num_fewshot > 0
    manifest = build_manifest(
        EVAL_KIND,
        model={**job.backend.describe(), **_fingerprint_entry(job.backend)},
        settings=job.settings.to_dict(),
        tasks={task.name: task.items for task in job.tasks},
        fewshot_pools={task.name: task.fewshot_pool for task in job.tasks} if uses_fewshot else None,
    )
    with OutputLock(out, "llmcal eval"):
        check_resume(out, manifest)
        fresh = not (out / RECORDS_NAME).exists() and not has_rank_files(out)
        write_manifest(out, manifest)
        job.shard.barrier()  # the directory and manifest exist before anyone appends records
        try:
            return _run(job)
        except InputError:
            # Bad input found while building the first prompts (too few few-shot examples, a cloze
            # without its blank): nothing was scored, so nothing of this run is left behind.
            if fresh and not (out / RECORDS_NAME).exists():
                (out / MANIFEST_NAME).unlink(missing_ok=True)
            raise


def _fingerprint_entry(backend: ScoringBackend) -> dict[str, Any]:
    """``{"fingerprint": ...}`` for the manifest's model section, or nothing for a backend without one."""
    fingerprint = backend.fingerprint()
    return {"fingerprint": fingerprint} if fingerprint else {}


def _run(job: _Job) -> EvalResults:
    """Scores the pending chunks, then (main process) merges the records and writes the results."""
    shard, out = job.shard, job.out
    # One records file per process in a data-parallel run: appends never interleave.
    store = RecordStore(out / (RECORDS_NAME if shard.world_size == 1 else rank_records_name(shard.rank)))
    done = load_records(out, own=store.path)
    rescored = _score_pending(job, store, done)
    shard.barrier()  # every shard's records are on disk
    if not shard.is_main:
        shard.barrier()  # wait for the main process to merge and write the results
        return read_eval_results(out)
    if shard.world_size > 1:
        done = load_records(out)  # the other processes' records are on disk only; all have finished
    ordered = {task.name: [done[(task.name, item.id)] for item in task.items] for task in job.tasks}
    # Rewritten in item order from every process's records, or without a torn chunk's first copies.
    if shard.world_size > 1 or rescored or has_rank_files(out):
        merge_records(out, ordered)
    results = summarize_records(ordered, job.settings, job.stratification)
    write_eval_results(out, results)
    if job.render is not None:
        job.render(out, results)
    shard.barrier()
    return results


def _score_pending(job: _Job, store: RecordStore, done: dict[tuple[str, str], AnyRecord]) -> bool:
    """Scores this process's chunks not all in ``done``, appending them to ``store`` and ``done``.

    Returns:
        Whether a chunk was scored again (an item of it was already done: a chunk torn by a crash).
    """
    shard, passes = job.shard, job.settings.extraction.scoring_passes
    rescored = False
    for task in job.tasks:
        # Shards by position in the task: processes read ``done`` at different moments.
        share = task.items[shard.rank :: shard.world_size]
        chunks = [share[start : start + _CHUNK_ITEMS] for start in range(0, len(share), _CHUNK_ITEMS)]
        pending = [chunk for chunk in chunks if any((task.name, item.id) not in done for item in chunk)]
        if job.on_progress is not None:
            job.on_progress((len(share) - sum(len(chunk) for chunk in pending)) * passes)
        for chunk in pending:
            rescored = rescored or any((task.name, item.id) in done for item in chunk)
            records = _extract(chunk, task, job.backend, job.settings, job.on_progress)
            store.append(records)
            done.update((record.key, record) for record in records)
    return rescored


def _extract(
    chunk: Sequence[MCItem | OpenItem],
    task: EvalTask,
    backend: ScoringBackend,
    settings: EvalSettings,
    on_progress: Callable[[int], None] | None,
) -> Sequence[AnyRecord]:
    """The records of a chunk of ``task``'s items, scored or answered as their kind needs."""
    extraction = settings.extraction
    if isinstance(extraction, GenerationSettings):
        return extract_generation_records(
            [item for item in chunk if isinstance(item, OpenItem)],
            backend,
            extraction,
            task=task.name,
            style=task.style,
            stop=task.stop,
            fewshot_pool=[item for item in task.fewshot_pool if isinstance(item, OpenItem)],
            aliases=AliasTable.of(item.answers for item in task.items if isinstance(item, OpenItem)),
            on_progress=on_progress,
        )
    return extract_records(
        [item for item in chunk if isinstance(item, MCItem)],
        backend,
        extraction,
        task=task.name,
        style=task.style,
        fewshot_pool=[item for item in task.fewshot_pool if isinstance(item, MCItem)],
        on_progress=on_progress,
    )


def check_task_kinds(tasks: Sequence[EvalTask], settings: EvalSettings) -> None:
    """Checks that the settings are those of the tasks' kind of items, before anything is scored.

    Raises:
        InputError: If open-ended tasks come with multiple-choice settings or the other way round.
    """
    generating = isinstance(settings.extraction, GenerationSettings)
    for task in tasks:
        if (task.kind == "open") != generating:
            wanted = "open-ended" if task.kind == "open" else "multiple-choice"
            raise InputError(
                f"task {task.name!r} is {wanted}, but the settings are for "
                f"{'open-ended' if generating else 'multiple-choice'} items; evaluate it with "
                f"{'GenerationSettings' if task.kind == 'open' else 'ExtractionSettings'}."
            )


def check_stratification(tasks: Sequence[EvalTask], stratification: Stratification | None) -> None:
    """Checks that every item of every task can be assigned a stratum, before anything is scored.

    Raises:
        InputError: As :meth:`~llmcal.runs.evaluation.Stratification.assign`.
    """
    if stratification is not None:
        for task in tasks:
            stratification.assign(task.items, task=task.name)


def summarize_records(
    records: Mapping[str, Sequence[AnyRecord]],
    settings: EvalSettings,
    stratification: Stratification | None = None,
) -> EvalResults:
    """Every metric of every task x confidence method of finished records, with bootstrap intervals.

    Args:
        records: Per task, its records in item order.
        settings: Which methods to summarise, and the binning and bootstrap settings.
        stratification: Also summarise each task per stratum of this field of its records.

    Raises:
        InputError: If a stratification is given and some records lack its field.
    """
    tasks = {}
    for name, ordered in records.items():
        kept = {method: answered(ordered, method) for method in settings.extraction.methods}
        predictions = {
            method: method_predictions(ordered, method, f"{name}/{method}", rows)
            for method, rows in kept.items()
        }
        strata = None
        if stratification is not None:
            strata = _task_strata(
                stratification.assign(ordered, task=name),
                stratification,
                predictions,
                kept,
                settings.metrics,
            )
        summaries = {method: summarize(table, settings.metrics) for method, table in predictions.items()}
        generated = [record for record in ordered if isinstance(record, GenerationRecord)]
        answers = _answer_stats(generated, kept) if generated else None
        tasks[name] = TaskResults(len(ordered), summaries, strata, answers)
    return EvalResults(settings, tasks)


def _answer_stats(records: Sequence[GenerationRecord], kept: dict[str, NDArray[np.bool_]]) -> AnswerStats:
    """Exact match and token F1 of the answers, and the answers each method gave no confidence."""
    problems: dict[str, dict[str, int]] = {}
    for method, rows in kept.items():
        if rows.all():
            continue
        counts: dict[str, int] = {}
        why_none = GENERATION_METHODS.get(method).why_none
        for record, keep in zip(records, rows, strict=True):
            if not keep:
                problem = why_none(record)
                counts[problem] = counts.get(problem, 0) + 1
        problems[method] = dict(sorted(counts.items(), key=lambda entry: -entry[1]))
    return AnswerStats(
        exact_match=float(np.mean([exact_match(r.generation.text, r.answers) for r in records])),
        token_f1=float(np.mean([token_f1(r.generation.text, r.answers) for r in records])),
        no_confidence={method: int((~rows).sum()) for method, rows in kept.items()},
        problems=problems,
    )


def _task_strata(
    strata: Strata,
    stratification: Stratification,
    predictions: dict[str, Predictions],
    kept: dict[str, NDArray[np.bool_]],
    settings: MetricSettings,
) -> TaskStrata:
    """Every method's summary per stratum, grouped by stratum (over the items each method answered)."""
    per_method = {
        method: summarize_strata(table, strata.subset(kept[method]), settings)
        for method, table in predictions.items()
    }
    groups = []
    for position, (stratum, n_items) in enumerate(zip(strata.strata, strata.counts, strict=True)):
        groups.append(
            StratumResults(
                stratum.label,
                stratum.lower,
                stratum.upper,
                n_items,
                {
                    method: table.subset(strata.rows(position)[kept[method]]).mean_confidence
                    for method, table in predictions.items()
                },
                {method: summaries[position] for method, summaries in per_method.items()},
            )
        )
    return TaskStrata(stratification, strata.kind, groups)
