"""An evaluation run: score tasks' items, keep per-item records as they finish, write results.

Output directory layout::

    run.json                          what was run (model, settings, item ids): a resume must match it
    records.jsonl                     one ItemRecord per item, appended as batches finish
    results.json                      accuracy and every metric with bootstrap CIs, per task x method
    bins.csv                          reliability-bin data per task x method
    reliability_<task>_<method>.png   reliability diagrams

A killed run resumes from ``records.jsonl``: finished items are not scored again, a half-written last line
is discarded, and the results are computed from records in item order, so they are identical to an
uninterrupted run's. Every file but the append-only records is written atomically.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmcal import __version__
from llmcal.atomic import write_text_atomic
from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.confidence.methods import probabilities
from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.metrics.calibration_error import top_label_confidence
from llmcal.metrics.validation import BinStrategy
from llmcal.predictions import Predictions
from llmcal.reports.summary import Summary, summarize
from llmcal.scoring.requests import ScoringBackend
from llmcal.tasks.schema import MCItem
from llmcal.tasks.spec import ClozeStyle

__all__ = [
    "SINGLE_PROCESS",
    "EvalRun",
    "EvalSettings",
    "EvalTask",
    "RecordStore",
    "Shard",
    "as_json",
    "check_resume",
    "evaluate",
    "read_run",
    "records_digest",
    "write_results",
]

# Items scored between two appends to records.jsonl: the most work a crash can lose.
_CHUNK_ITEMS = 64


@dataclass(frozen=True)
class Shard:
    """This process's place in a data-parallel run: it scores every ``world_size``-th pending item.

    Attributes:
        rank: This process's index, 0 to ``world_size - 1``; rank 0 writes the results.
        world_size: Number of processes.
        barrier: Blocks until every process has called it (``torch.distributed.barrier`` under a launcher).
    """

    rank: int = 0
    world_size: int = 1
    barrier: Callable[[], object] = lambda: None

    @property
    def is_main(self) -> bool:
        """Whether this process writes the shared files."""
        return self.rank == 0


SINGLE_PROCESS = Shard()


@dataclass(frozen=True)
class EvalTask:
    """One task's items and how to prompt them."""

    name: str
    items: list[MCItem]
    style: ClozeStyle = "qa"
    fewshot_pool: Sequence[MCItem] = ()


@dataclass(frozen=True)
class EvalSettings:
    """Everything besides the model and items that determines the results."""

    extraction: ExtractionSettings
    n_bins: int = 15
    strategy: BinStrategy = "uniform"
    n_resamples: int = 1000
    level: float = 0.95
    seed: int = 0  # of the bootstrap resamples


class RecordStore:
    """``records.jsonl``: append-only, fsynced per chunk, tolerant of a torn last line after a crash."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, *, repair: bool = True) -> dict[tuple[str, str], ItemRecord]:
        """Records already on disk; a last line cut off mid-write is ignored, and with ``repair`` cut off."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if repair and len(complete) != len(data):
            with self.path.open("r+b") as handle:  # drop the torn tail so appends start on a fresh line
                handle.truncate(len(complete))
        records: dict[tuple[str, str], ItemRecord] = {}
        for line, raw in enumerate(complete.split(b"\n")[:-1], start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(
                    f"{self.path}:{line}: not valid UTF-8; not a records file llmcal wrote."
                ) from None
            record = ItemRecord.from_json(text, where=f"{self.path}:{line}")
            records[record.key] = record
        return records

    def append(self, records: Sequence[ItemRecord]) -> None:
        """Appends records durably: after this returns they survive a crash."""
        if not records:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("".join(record.to_json() + "\n" for record in records))
            handle.flush()
            os.fsync(handle.fileno())


def records_digest(items: Sequence[MCItem] | Sequence[ItemRecord]) -> str:
    """A short digest of the item ids in order, for run manifests."""
    return hashlib.sha256("\n".join(item.id for item in items).encode("utf-8")).hexdigest()[:16]


def as_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), so saved and fresh manifests compare."""
    return json.loads(json.dumps(value))


def _manifest(tasks: Sequence[EvalTask], backend: ScoringBackend, settings: EvalSettings) -> dict[str, Any]:
    tasks_digest = {
        task.name: {"n_items": len(task.items), "item_ids": records_digest(task.items)} for task in tasks
    }
    manifest: dict[str, Any] = as_json(
        {"model": backend.describe(), "settings": asdict(settings), "tasks": tasks_digest}
    )
    return manifest


def check_resume(path: Path, manifest: dict[str, Any]) -> None:
    """Refuses to write into a directory whose ``run.json`` describes a different model, settings or items.

    Raises:
        InputError: Naming the section that differs, and how to proceed.
    """
    if not path.exists():
        return
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{path}: unreadable run manifest; use a new --out directory.") from None
    previous.pop("llmcal_version", None)
    for section in ("model", "settings", "tasks"):
        if previous.get(section) != manifest[section]:
            raise InputError(
                f"{path.parent} holds a run with different {section} "
                f"({json.dumps(previous.get(section), sort_keys=True)} vs "
                f"{json.dumps(manifest[section], sort_keys=True)}). Resume only with identical settings, "
                "or choose a new --out directory."
            )


def _task_predictions(records: Sequence[ItemRecord], method: str, source: str) -> Predictions:
    probs, labels, mask = probabilities(records, method)
    confidences, correct = top_label_confidence(probs, labels)
    return Predictions(confidences, correct, probs, labels, source, None if mask.all() else mask)


def evaluate(
    tasks: Sequence[EvalTask],
    backend: ScoringBackend,
    settings: EvalSettings,
    out_dir: str | Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    plots: bool = True,
    shard: Shard = SINGLE_PROCESS,
) -> dict[str, Any]:
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
        plots: Whether to render reliability PNGs (needs matplotlib).
        shard: This process's place in a data-parallel run (see :mod:`llmcal.scoring.distributed`).

    Raises:
        InputError: If ``out_dir`` holds a run with different settings.
    """
    out = Path(out_dir)
    manifest = _manifest(tasks, backend, settings)
    check_resume(out / "run.json", manifest)
    if shard.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(
            out / "run.json",
            json.dumps({"llmcal_version": __version__, **manifest}, indent=2, sort_keys=True) + "\n",
        )
    shard.barrier()  # the directory and manifest exist before anyone appends records
    # One records file per process in a data-parallel run: appends never interleave.
    store = RecordStore(
        out / ("records.jsonl" if shard.world_size == 1 else f"records.rank{shard.rank}.jsonl")
    )
    done = _load_records(out, own=store.path)
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
        return dict(json.loads((out / "results.json").read_text(encoding="utf-8")))
    if shard.world_size > 1:
        done = _load_records(out)  # the other processes' records are on disk only; all have finished
    ordered = {task.name: [done[(task.name, item.id)] for item in task.items] for task in tasks}
    if shard.world_size > 1 or _rank_files(out):
        _merge_records(out, ordered)
    results = write_results(ordered, settings, out, plots=plots)
    shard.barrier()
    return results


def _rank_files(out: Path) -> list[Path]:
    return sorted(out.glob("records.rank*.jsonl"))


def _load_records(out: Path, *, own: Path | None = None) -> dict[tuple[str, str], ItemRecord]:
    """Records of the main file and of every per-process file.

    Only ``own``, the file this process appends to, has a torn tail cut off: another process may be in
    the middle of appending to its own file.
    """
    records: dict[tuple[str, str], ItemRecord] = {}
    for path in [out / "records.jsonl", *_rank_files(out)]:
        records.update(RecordStore(path).load(repair=path == own))
    return records


def _merge_records(out: Path, ordered: dict[str, list[ItemRecord]]) -> None:
    """Rewrites records.jsonl in item order from every process's records, then drops the per-process files."""
    text = "".join(record.to_json() + "\n" for records in ordered.values() for record in records)
    write_text_atomic(out / "records.jsonl", text)
    for path in _rank_files(out):  # after the atomic rewrite: a crash here leaves only duplicates
        path.unlink()


def write_results(
    records: dict[str, list[ItemRecord]],
    settings: EvalSettings,
    out: Path,
    *,
    plots: bool = True,
) -> dict[str, Any]:
    """Writes results.json, bins.csv and reliability diagrams of finished records; returns the results.

    Args:
        records: Per task, its records in item order.
        settings: Which methods to summarise, and the binning and bootstrap settings.
        out: Output directory.
        plots: Whether to render reliability PNGs (needs matplotlib).
    """
    results: dict[str, Any] = {
        "llmcal_version": __version__,
        "settings": as_json(asdict(settings)),
        "tasks": {},
    }
    bins_rows: list[dict[str, Any]] = []
    summaries: list[tuple[str, str, Summary]] = []
    for task_name, ordered in records.items():
        methods: dict[str, Any] = {}
        for method in settings.extraction.methods:
            summary = summarize(
                _task_predictions(ordered, method, f"{task_name}/{method}"),
                n_bins=settings.n_bins,
                strategy=settings.strategy,
                n_resamples=settings.n_resamples,
                level=settings.level,
                seed=settings.seed,
            )
            methods[method] = {key: value for key, value in summary.to_dict().items() if key != "reliability"}
            bins_rows.extend(
                {"task": task_name, "method": method, **row} for row in summary.reliability.to_rows()
            )
            summaries.append((task_name, method, summary))
        results["tasks"][task_name] = {"n_items": len(ordered), "methods": methods}
    write_text_atomic(out / "results.json", json.dumps(results, indent=2) + "\n")
    write_text_atomic(out / "bins.csv", _csv(bins_rows))
    if plots:
        from llmcal.reports.reliability import save_reliability_png

        for task_name, method, summary in summaries:
            ece = next(metric.value for metric in summary.metrics if metric.name == "ece")
            save_reliability_png(
                summary.reliability,
                out / f"reliability_{task_name}_{method}.png",
                title=f"{task_name} / {method}",
                ece=ece,
            )
    return results


@dataclass(frozen=True)
class EvalRun:
    """A finished evaluation read back from its output directory.

    Attributes:
        path: The directory.
        manifest: ``run.json``: model, settings and item digests.
        methods: Confidence methods the run computed.
        records: Per task, its items' records in the order they were written.
    """

    path: Path
    manifest: dict[str, Any]
    methods: tuple[str, ...]
    records: dict[str, list[ItemRecord]]

    @property
    def model(self) -> str:
        """The evaluated model's name as the backend described it."""
        return str(self.manifest.get("model", {}).get("model", self.path.name))


def read_run(path: str | Path) -> EvalRun:
    """Reads an ``llmcal eval`` output directory, checking that every item of every task was scored.

    Raises:
        InputError: If the directory is not an evaluation output or the run did not finish.
    """
    root = Path(path)
    manifest_path = root / "run.json"
    if not manifest_path.is_file():
        raise InputError(f"{root}: no run.json here; expected the --out directory of an `llmcal eval` run.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        methods = tuple(manifest["settings"]["extraction"]["methods"])
        expected = {task: int(entry["n_items"]) for task, entry in manifest["tasks"].items()}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
        raise InputError(f"{manifest_path}: not a run manifest written by `llmcal eval`.") from None
    records: dict[str, list[ItemRecord]] = {task: [] for task in expected}
    for record in RecordStore(root / "records.jsonl").load(repair=False).values():
        if record.task not in records:
            raise InputError(f"{root / 'records.jsonl'}: item {record.id} of task {record.task!r}, "
                             f"which {manifest_path} does not list.")  # fmt: skip
        records[record.task].append(record)
    for task, n_items in expected.items():
        if len(records[task]) != n_items:
            raise InputError(
                f"{root}: task {task!r} has {len(records[task])} of {n_items} items scored; the run did not "
                f"finish. Rerun the same `llmcal eval` command with --out {root} to complete it."
            )
    return EvalRun(root, manifest, methods, records)


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    fields = ["task", "method", "bin", "lower", "upper", "count", "mean_confidence", "accuracy"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
