"""The evaluation loop: score tasks' items, keep per-item records as they finish, write the results.

The run directory's layout is :mod:`llmcal.runs.evaluation`'s. A killed run resumes from ``records.jsonl``:
finished items are not scored again, a half-written last line is discarded, and the results are computed
from records in item order, so they are identical to an uninterrupted run's. Every file but the
append-only records is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from llmcal.confidence.extraction import extract_records
from llmcal.confidence.predictions import method_predictions
from llmcal.confidence.records import ItemRecord
from llmcal.distributed import SINGLE_PROCESS, Shard
from llmcal.metrics.summary import summarize
from llmcal.runs.evaluation import (
    EVAL_KIND,
    EvalResults,
    EvalSettings,
    TaskResults,
    read_eval_results,
    write_eval_results,
)
from llmcal.runs.manifest import build_manifest, check_resume, write_manifest
from llmcal.runs.records import (
    RECORDS_NAME,
    RecordStore,
    has_rank_files,
    load_records,
    merge_records,
    rank_records_name,
)
from llmcal.scoring.requests import ScoringBackend
from llmcal.tasks.selection import EvalTask

__all__ = ["FigureRenderer", "evaluate", "summarize_records"]

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

    Raises:
        InputError: If ``out_dir`` holds a run with different settings.
    """
    out = Path(out_dir)
    manifest = build_manifest(
        EVAL_KIND,
        model=backend.describe(),
        settings=settings.to_dict(),
        tasks={task.name: task.items for task in tasks},
    )
    check_resume(out, manifest)
    if shard.is_main:
        write_manifest(out, manifest)
    shard.barrier()  # the directory and manifest exist before anyone appends records
    # One records file per process in a data-parallel run: appends never interleave.
    store = RecordStore(out / (RECORDS_NAME if shard.world_size == 1 else rank_records_name(shard.rank)))
    done = load_records(out, own=store.path)
    passes = settings.extraction.scoring_passes
    for task in tasks:
        # Shards by position in the task: processes read ``done`` at different moments.
        share = task.items[shard.rank :: shard.world_size]
        mine = [item for item in share if (task.name, item.id) not in done]
        if on_progress is not None:
            on_progress((len(share) - len(mine)) * passes)
        for start in range(0, len(mine), _CHUNK_ITEMS):
            chunk = mine[start : start + _CHUNK_ITEMS]
            records = extract_records(
                chunk,
                backend,
                settings.extraction,
                task=task.name,
                style=task.style,
                fewshot_pool=task.fewshot_pool,
                on_progress=on_progress,
            )
            store.append(records)
            done.update((record.key, record) for record in records)
    shard.barrier()  # every shard's records are on disk
    if not shard.is_main:
        shard.barrier()  # wait for the main process to merge and write the results
        return read_eval_results(out)
    if shard.world_size > 1:
        done = load_records(out)  # the other processes' records are on disk only; all have finished
    ordered = {task.name: [done[(task.name, item.id)] for item in task.items] for task in tasks}
    if shard.world_size > 1 or has_rank_files(out):
        merge_records(out, ordered)
    results = summarize_records(ordered, settings)
    write_eval_results(out, results)
    if render is not None:
        render(out, results)
    shard.barrier()
    return results


def summarize_records(records: dict[str, list[ItemRecord]], settings: EvalSettings) -> EvalResults:
    """Every metric of every task x confidence method of finished records, with bootstrap intervals.

    Args:
        records: Per task, its records in item order.
        settings: Which methods to summarise, and the binning and bootstrap settings.
    """
    tasks = {
        name: TaskResults(
            len(ordered),
            {
                method: summarize(method_predictions(ordered, method, f"{name}/{method}"), settings.metrics)
                for method in settings.extraction.methods
            },
        )
        for name, ordered in records.items()
    }
    return EvalResults(settings, tasks)
