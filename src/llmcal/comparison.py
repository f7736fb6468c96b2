"""Base vs aligned: how every metric changes between two evaluations of the same items (Oh & Hwang, 2024).

For each task x confidence method the two runs share, :func:`llmcal.metrics.metric_changes` gives every
metric's change with a paired bootstrap interval and its change rate; several model pairs are ranked by
change rate (:func:`llmcal.metrics.rank_by_change_rate`). This module pairs the runs' records and writes
``comparison.json`` (:mod:`llmcal.runs.comparison`).

A method is compared on the items both runs gave a confidence. One with no such item (``verbal``, when a
model never wrote a readable probability) has no change: it is listed in the results as not compared,
with each run's reasons (:func:`uncompared_methods`), and the other methods are compared as usual.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from llmcal.confidence.generation_methods import GENERATION_METHODS
from llmcal.confidence.predictions import answered, method_predictions
from llmcal.confidence.records import AnyRecord, GenerationRecord
from llmcal.errors import InputError
from llmcal.locking import OutputLock
from llmcal.metrics.catalog import METRICS
from llmcal.metrics.comparison import MetricChange, metric_changes, rank_by_change_rate
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import applicable_metrics
from llmcal.runs.comparison import (
    ComparedPair,
    ComparisonResults,
    UncomparedMethod,
    write_comparison_results,
)
from llmcal.runs.eval_run import EvalRun

__all__ = [
    "ComparisonRenderer",
    "RunPair",
    "compare",
    "compare_runs",
    "comparison_steps",
    "paired_records",
    "uncompared_methods",
]

# A named pair of evaluation runs: (name, base, aligned).
RunPair = tuple[str, EvalRun, EvalRun]
# Draws the comparison's tables and figures into its directory (e.g. llmcal.reports.comparison).
ComparisonRenderer = Callable[[Path, ComparisonResults], None]


def paired_records(base: EvalRun, aligned: EvalRun) -> dict[str, tuple[list[AnyRecord], list[AnyRecord]]]:
    """Per task, the two runs' records of the same items in the same order.

    Raises:
        InputError: If the runs cover different tasks or items, or an item's gold answer or option count
            differs between them (so they are not the same items).
    """
    if set(base.records) != set(aligned.records):
        raise InputError(
            f"{base.path} and {aligned.path} cover different tasks ({sorted(base.records)} vs "
            f"{sorted(aligned.records)}); compare evaluations of the same tasks."
        )
    pairs: dict[str, tuple[list[AnyRecord], list[AnyRecord]]] = {}
    for task, base_records in base.records.items():
        by_id = {record.id: record for record in aligned.records[task]}
        missing = [record.id for record in base_records if record.id not in by_id]
        extra = sorted(set(by_id) - {record.id for record in base_records})
        if missing or extra:
            raise InputError(
                f"task {task!r}: the runs scored different items ({_some(missing)} only in {base.path}; "
                f"{_some(extra)} only in {aligned.path}). Evaluate both models on the same items."
            )
        differing = [record.id for record in base_records if record.gold_key != by_id[record.id].gold_key]
        if differing:
            raise InputError(
                f"task {task!r}: items {_some(differing)} have different gold answers (or option counts) "
                f"in {base.path} and {aligned.path}; the runs used different data under the same ids."
            )
        pairs[task] = (base_records, [by_id[record.id] for record in base_records])
    return pairs


def _some(ids: Sequence[str]) -> str:
    if not ids:
        return "none"
    shown = ", ".join(repr(item) for item in ids[:3])
    return shown + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def compare_runs(
    base: EvalRun,
    aligned: EvalRun,
    *,
    pair: str = "",
    metrics: Sequence[str] | None = None,
    settings: MetricSettings = MetricSettings(),
    on_step: Callable[[str], None] | None = None,
) -> list[MetricChange]:
    """Every metric's change from ``base`` to ``aligned`` per task x confidence method the runs share.

    A method is compared on the items both runs gave a confidence; one with no such item is left out
    (:func:`uncompared_methods` says which and why).

    Args:
        base: The reference run (e.g. the pretrained model).
        aligned: The run compared to it (e.g. the instruction-tuned model), on the same items.
        pair: Name of this model pair in the output.
        metrics: Names from :data:`~llmcal.metrics.METRICS`; default all.
        settings: Binning and bootstrap settings.
        on_step: Called with ``task/method/metric`` after each change is computed (progress bars).

    Raises:
        InputError: If the runs are not on the same items, share no confidence method, or a metric name
            is unknown.
    """
    return _compare_pair(base, aligned, pair=pair, metrics=metrics, settings=settings, on_step=on_step)[0]


def uncompared_methods(base: EvalRun, aligned: EvalRun, *, pair: str = "") -> list[UncomparedMethod]:
    """The task x methods :func:`compare_runs` leaves out: no item has a confidence in both runs.

    Raises:
        InputError: If the runs are not on the same items or share no confidence method.
    """
    uncompared = []
    for task, (base_records, aligned_records) in paired_records(base, aligned).items():
        for method in _shared_methods(base, aligned):
            if not (answered(base_records, method) & answered(aligned_records, method)).any():
                uncompared.append(_uncompared(pair, task, method, base_records, aligned_records))
    return uncompared


def _shared_methods(base: EvalRun, aligned: EvalRun) -> list[str]:
    """The confidence methods of both runs, in the base run's order.

    Raises:
        InputError: If they share none.
    """
    methods = [method for method in base.methods if method in aligned.methods]
    if not methods:
        raise InputError(
            f"{base.path} (methods {', '.join(base.methods)}) and {aligned.path} (methods "
            f"{', '.join(aligned.methods)}) share no confidence method; evaluate both with one `methods`.",
            parameter="methods",
        )
    return methods


def _uncompared(
    pair: str, task: str, method: str, base: Sequence[AnyRecord], aligned: Sequence[AnyRecord]
) -> UncomparedMethod:
    """A task x method of a pair that no item has a confidence in both runs, with each run's reasons."""
    reason = (
        f"no item has a confidence in both runs; base: {_without_confidence(base, method)}; "
        f"aligned: {_without_confidence(aligned, method)}"
    )
    return UncomparedMethod(pair, task, method, reason)


def _without_confidence(records: Sequence[AnyRecord], method: str) -> str:
    """How many of a run's answers ``method`` gave no confidence, and why (``no number: 30``)."""
    kept = answered(records, method)
    missing = int((~kept).sum())
    if not missing:
        return "every answer has one"
    why_none = GENERATION_METHODS.get(method).why_none if method in GENERATION_METHODS else None
    problems = Counter(
        why_none(record) if why_none is not None and isinstance(record, GenerationRecord) else "no confidence"
        for record, keep in zip(records, kept, strict=True)
        if not keep
    )
    reasons = ", ".join(f"{problem}: {count}" for problem, count in problems.most_common())
    return f"{missing} of {len(records)} answers gave no confidence ({reasons})"


def _compare_pair(
    base: EvalRun,
    aligned: EvalRun,
    *,
    pair: str,
    metrics: Sequence[str] | None,
    settings: MetricSettings,
    on_step: Callable[[str], None] | None,
) -> tuple[list[MetricChange], list[UncomparedMethod]]:
    """:func:`compare_runs` and :func:`uncompared_methods` of one pair, its records paired once."""
    names = list(metrics) if metrics is not None else METRICS.names()
    for name in names:
        METRICS.get(name)  # unknown names fail here, with suggestions, before any work
    methods = _shared_methods(base, aligned)
    changes: list[MetricChange] = []
    uncompared: list[UncomparedMethod] = []
    for task, (base_records, aligned_records) in paired_records(base, aligned).items():
        for method in methods:
            # Paired: only the items both runs gave a confidence (a verbalised answer may have none).
            rows = answered(base_records, method) & answered(aligned_records, method)
            if not rows.any():
                uncompared.append(_uncompared(pair, task, method, base_records, aligned_records))
                continue
            before = method_predictions(base_records, method, f"{base.path}/{task}/{method}", rows)
            after = method_predictions(aligned_records, method, f"{aligned.path}/{task}/{method}", rows)
            changes += metric_changes(
                before,
                after,
                [name for name in names if name in applicable_metrics(before)],
                settings,
                pair=pair,
                task=task,
                method=method,
                on_metric_done=None if on_step is None else _prefixed(on_step, f"{task}/{method}/"),
            )
    return changes, uncompared


def _prefixed(callback: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda name: callback(prefix + name)


def comparison_steps(pairs: Sequence[RunPair], metrics: Sequence[str] | None = None) -> int:
    """How many changes :func:`compare` computes (for progress bars): tasks x compared methods x metrics.

    A method no item has a confidence for in both runs is not compared (:func:`uncompared_methods`).
    """
    names = METRICS.names() if metrics is None else list(metrics)
    top_label = [name for name in names if METRICS.get(name).inputs == "top_label"]
    return sum(
        _comparable(base, aligned, task, method) * len(top_label if base.is_open_ended else names)
        for _, base, aligned in pairs
        for task in base.records
        for method in set(base.methods) & set(aligned.methods)
    )


def _comparable(base: EvalRun, aligned: EvalRun, task: str, method: str) -> bool:
    """Whether some item of ``task`` has a confidence by ``method`` in both runs (matched by id)."""
    answered_ids = [
        {record.id for record, keep in zip(records, answered(records, method), strict=True) if keep}
        for records in (base.records[task], aligned.records.get(task, []))
    ]
    return bool(answered_ids[0] & answered_ids[1])


def compare(
    pairs: Sequence[RunPair],
    out_dir: str | Path | None,
    *,
    metrics: Sequence[str] | None = None,
    settings: MetricSettings = MetricSettings(),
    render: ComparisonRenderer | None = None,
    on_step: Callable[[str], None] | None = None,
) -> ComparisonResults:
    """Compares every pair, ranks the pairs by change rate, and writes ``comparison.json`` to ``out_dir``.

    A task x method that no item has a confidence for in both runs of a pair is not compared; the results
    list it with why (:attr:`ComparisonResults.uncompared`) and the other methods are compared as usual.

    Args:
        pairs: ``(name, base, aligned)`` of every model pair.
        out_dir: Output directory (created if needed), or ``None`` to write nothing.
        metrics: Names from :data:`~llmcal.metrics.METRICS`; default all.
        settings: Binning and bootstrap settings.
        render: Draws tables and figures of the results into ``out_dir`` once they are written.
        on_step: Called with ``task/method/metric`` after each change is computed (progress bars).

    Raises:
        InputError: See :func:`compare_runs`; also if no pair is given.
    """
    if not pairs:
        raise InputError("No runs to compare; pass a base and an aligned evaluation directory.")
    changes: list[MetricChange] = []
    uncompared: list[UncomparedMethod] = []
    for name, base, aligned in pairs:
        pair_changes, pair_uncompared = _compare_pair(
            base, aligned, pair=name, metrics=metrics, settings=settings, on_step=on_step
        )
        changes += pair_changes
        uncompared += pair_uncompared
    compared = [
        ComparedPair(name, str(base.path), str(aligned.path), base.model, aligned.model)
        for name, base, aligned in pairs
    ]
    results = ComparisonResults(settings, compared, rank_by_change_rate(changes), uncompared)
    if out_dir is not None:
        out = Path(out_dir)
        with OutputLock(out, "llmcal compare"):
            write_comparison_results(out, results)
            if render is not None:
                render(out, results)
    return results
