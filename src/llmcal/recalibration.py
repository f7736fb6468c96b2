"""Calibrated probabilities from any confidence score: top-label calibrators fitted on a split of a run.

Every confidence method gives each answer a number in [0, 1], but only some of those numbers are
probabilities: the methods over samples (``semantic-entropy``, ``eigv``, ...) map an uncertainty score
monotonically into [0, 1], so their values order answers well and say little about how often an answer
is right. A top-label calibrator (isotonic regression, Platt scaling, histogram binning;
:mod:`llmcal.calibrators`) fitted on some items' (confidence, correct) pairs turns any such score into a
probability. :func:`recalibrate` fits each on a split of an evaluation's items, per task x method, and
measures every top-label metric before and after on items it was not fitted on: the rest of the run, or
another run of the same task (``apply_to``), leaving out the items fitted on.

The split is by item, the same for every method of a task: each item id is ranked by a hash of the seed,
the task and the id, and the first ``fit_share`` of the task's items are fitted on. Items are fitted
and measured in the order of their ids, so nothing depends on the order the records were written in.
Multiple-choice methods are calibrated on the confidence in their predicted option (the prediction
itself never changes, nor does accuracy).
:func:`save_recalibration` writes the results as a run directory (:mod:`llmcal.runs.recalibration`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path

import numpy as np

from llmcal.calibrators.base import CALIBRATORS, TopLabelCalibrator
from llmcal.confidence.predictions import answered, method_predictions
from llmcal.errors import InputError
from llmcal.locking import LOCK_NAME, OutputLock
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import summarize
from llmcal.runs.eval_run import EvalRun
from llmcal.runs.kinds import run_kind
from llmcal.runs.manifest import build_manifest
from llmcal.runs.recalibration import (
    CALIBRATION_KIND,
    CalibratedSummary,
    MethodRecalibration,
    RecalibrationResults,
    RecalibrationSettings,
    SourceRun,
    write_recalibration,
)

__all__ = [
    "DEFAULT_CALIBRATORS",
    "MIN_FIT_ITEMS",
    "StepCallback",
    "check_recalibration_out",
    "fitting_ids",
    "recalibrate",
    "save_recalibration",
]

DEFAULT_CALIBRATORS = ("isotonic", "platt", "histogram")
MIN_FIT_ITEMS = 10
"""Fewest answers with a confidence a fitting split may have: below it a fitted map is mostly noise."""

StepCallback = Callable[[int, int, str], None]
"""Called with (summaries done, summaries in all, ``task/method/calibrator`` just done): progress bars."""


def fitting_ids(task: str, ids: Sequence[str], fit_share: float, seed: int = 0) -> frozenset[str]:
    """The ids of ``task``'s items in the fitting split: the first ``fit_share`` ranked by a seeded hash.

    Each id is ranked by sha256 of (seed, task, id), ties by the id, so the split depends on the set of
    ids and not on their order; ``round(fit_share * n)`` of the ``n`` distinct ids are chosen.

    Examples:
        >>> sorted(fitting_ids("quiz", ["a", "b", "c", "d"], 0.5)) == sorted(
        ...     fitting_ids("quiz", ["d", "c", "b", "a"], 0.5))
        True
    """
    ranked = sorted(set(ids), key=lambda item_id: (_split_rank(seed, task, item_id), item_id))
    return frozenset(ranked[: round(fit_share * len(ranked))])


def _split_rank(seed: int, task: str, item_id: str) -> bytes:
    # NUL separators keep ("a", "bc") and ("ab", "c") apart; sha256 does not change with PYTHONHASHSEED.
    return hashlib.sha256(f"{seed}\x00{task}\x00{item_id}".encode()).digest()


@dataclass(frozen=True)
class _Planned:
    """One task x method, checked: the top-label predictions to fit on and to measure on."""

    task: str
    method: str
    fit: Predictions
    evaluated: Predictions
    left_out: int


def recalibrate(
    run: EvalRun,
    *,
    fit_share: float = 0.5,
    apply_to: EvalRun | None = None,
    calibrators: Sequence[str] = DEFAULT_CALIBRATORS,
    methods: Sequence[str] | None = None,
    settings: MetricSettings = MetricSettings(),
    seed: int = 0,
    on_step: StepCallback | None = None,
) -> RecalibrationResults:
    """Fits each calibrator per task x method on a split of ``run`` and measures it on unseen items.

    Every input is checked before anything is fitted. An item a method gave no confidence (a verbalised
    answer without a number) is neither fitted on nor measured.

    Args:
        run: The evaluation to fit on.
        fit_share: Share of each task's items in the fitting split, in (0, 1); with ``apply_to``, in
            (0, 1] (1: fit on every item of ``run``).
        apply_to: Measure on this evaluation's items of the same tasks instead of ``run``'s held-out
            items; those whose ids are in the fitting split are left out (and counted).
        calibrators: Top-label calibrators by name (:data:`llmcal.calibrators.CALIBRATORS`).
        methods: Confidence methods of ``run``; default every one.
        settings: Binning and bootstrap of the metrics before and after.
        seed: Seed of the split.
        on_step: Called after each summary (one before and one per calibrator, per task x method).

    Raises:
        InputError: If ``fit_share`` is out of range, a calibrator or method is unknown (or a calibrator
            is not top-label), ``apply_to`` lacks a task or method, a fitting split has fewer than
            :data:`MIN_FIT_ITEMS` answers or answers all right or all wrong, or nothing is left to measure.
    """
    _check_fit_share(fit_share, with_apply_to=apply_to is not None)
    names = _calibrator_names(calibrators)
    chosen = _chosen_methods(run, methods)
    planned = []
    for task, records in run.records.items():
        fit_ids = fitting_ids(task, [record.id for record in records], fit_share, seed)
        planned += [_plan(run, apply_to, task, method, fit_ids) for method in chosen]
    steps = _Steps(len(planned) * (1 + len(names)), on_step)
    entries = [_recalibrated(plan, names, settings, steps) for plan in planned]
    recalibration_settings = RecalibrationSettings(
        fit_share, seed, names, None if methods is None else tuple(chosen), settings
    )
    applied = None if apply_to is None else SourceRun(str(apply_to.path), apply_to.model)
    return RecalibrationResults(recalibration_settings, SourceRun(str(run.path), run.model), applied, entries)


@dataclass
class _Steps:
    """Counts the summaries done and tells ``on_step``."""

    total: int
    on_step: StepCallback | None
    done: int = 0

    def advance(self, step: str) -> None:
        self.done += 1
        if self.on_step is not None:
            self.on_step(self.done, self.total, step)


def _recalibrated(
    plan: _Planned, names: Sequence[str], settings: MetricSettings, steps: _Steps
) -> MethodRecalibration:
    """One task x method: the metrics before, and each calibrator fitted and measured."""
    before = summarize(plan.evaluated, settings)
    steps.advance(f"{plan.task}/{plan.method}")
    calibrated = []
    for name in names:
        calibrated.append(_calibrated(plan, name, settings))
        steps.advance(f"{plan.task}/{plan.method}/{name}")
    return MethodRecalibration(
        plan.task,
        plan.method,
        plan.fit.n_items,
        plan.evaluated.n_items,
        plan.left_out,
        before,
        tuple(calibrated),
    )


def _calibrated(plan: _Planned, name: str, settings: MetricSettings) -> CalibratedSummary:
    """Calibrator ``name`` fitted on the fitting split, and the metrics of what it makes of the rest."""
    calibrator = CALIBRATORS.get(name)()
    assert isinstance(calibrator, TopLabelCalibrator)  # checked by _calibrator_names
    calibrator.fit(confidences=plan.fit.confidences, correct=plan.fit.correct)
    evaluated = plan.evaluated
    after = Predictions(
        calibrator.transform(confidences=evaluated.confidences),
        evaluated.correct,
        None,
        None,
        f"{evaluated.source} ({name})",
    )
    return CalibratedSummary(name, calibrator.to_dict(), summarize(after, settings))


def _check_fit_share(fit_share: float, *, with_apply_to: bool) -> None:
    """Refuses a share that leaves a split empty: (0, 1) alone, (0, 1] with ``apply_to``."""
    upper_ok = fit_share <= 1.0 if with_apply_to else fit_share < 1.0
    if isinstance(fit_share, bool) or not (fit_share > 0.0 and upper_ok):
        allowed = "(0, 1]" if with_apply_to else "(0, 1); 1 only with `apply_to` (measured on another run)"
        raise InputError(
            f"`fit_share` must be in {allowed}: the share of each task's items the calibrators are fitted "
            f"on, the rest measuring them; got {fit_share!r}. Try `fit_share=0.5`.",
            parameter="fit_share",
        )


def _calibrator_names(calibrators: Sequence[str]) -> tuple[str, ...]:
    """The distinct names, in order, each a registered top-label calibrator.

    Raises:
        InputError: If none is given, a name is unknown (the registry suggests close names), or one
            calibrates per-option scores (temperature, vector scaling), not a confidence.
    """
    names = tuple(dict.fromkeys(calibrators))
    top_label = [
        name for name in CALIBRATORS.names() if issubclass(CALIBRATORS.get(name), TopLabelCalibrator)
    ]
    if not names:
        raise InputError(
            f"`calibrators` is empty; name at least one of {', '.join(top_label)}.", parameter="calibrators"
        )
    for name in names:
        if not issubclass(CALIBRATORS.get(name), TopLabelCalibrator):  # an unknown name fails here
            raise InputError(
                f"`calibrators`: {name!r} calibrates per-option scores, not a confidence in one answer, so "
                f"it cannot calibrate every method; choose from {', '.join(top_label)}.",
                parameter="calibrators",
            )
    return names


def _chosen_methods(run: EvalRun, methods: Sequence[str] | None) -> list[str]:
    """``methods`` (distinct, in order), each one ``run`` computed; default all of them.

    Raises:
        InputError: If a method is not one of the run's, or none is given.
    """
    if methods is None:
        return list(run.methods)
    chosen = list(dict.fromkeys(methods))
    if not chosen:
        raise InputError(f"`methods` is empty; name some of {', '.join(run.methods)}.", parameter="methods")
    for method in chosen:
        if method not in run.methods:
            close = get_close_matches(method, run.methods, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InputError(
                f"`methods`: {run.path} has no confidence method {method!r}; it computed "
                f"{', '.join(run.methods)}.{hint}",
                parameter="methods",
            )
    return chosen


def _plan(
    run: EvalRun, apply_to: EvalRun | None, task: str, method: str, fit_ids: frozenset[str]
) -> _Planned:
    """The checked fitting and measuring predictions of one task x method.

    Raises:
        InputError: See :func:`recalibrate`.
    """
    ids, predictions = _answered(run, task, method)
    in_fit = np.array([item_id in fit_ids for item_id in ids], dtype=np.bool_)
    fit = predictions.subset(in_fit)
    _check_fitting_split(fit, run, task, method)
    if apply_to is None:
        evaluated, left_out = predictions.subset(~in_fit), 0
    else:
        _check_applicable(apply_to, task, method)
        other_ids, other = _answered(apply_to, task, method)
        seen = np.array([item_id in fit_ids for item_id in other_ids], dtype=np.bool_)
        evaluated, left_out = other.subset(~seen), int(seen.sum())
    if evaluated.n_items == 0:
        where = (
            f"{run.path}: every item with a confidence is in the fitting split"
            if apply_to is None
            else f"{apply_to.path}: all {left_out} items with a confidence are in the fitting split"
        )
        raise InputError(
            f"task {task!r}, method {method!r}: nothing left to measure the calibrators on in {where}; "
            "lower `fit_share`, or apply them to a run of other items.",
            parameter="fit_share",
        )
    return _Planned(task, method, fit, evaluated, left_out)


def _answered(run: EvalRun, task: str, method: str) -> tuple[list[str], Predictions]:
    """The ids of ``task``'s items ``method`` gave a confidence, and its top-label predictions on them.

    In the order of the ids, not of the records: the fits and the bootstrap resamples then do not depend
    on the order a run happened to write its records in (batching and resumes change it).
    """
    records = sorted(run.records[task], key=lambda record: record.id)
    kept = answered(records, method)
    ids = [record.id for record, keep in zip(records, kept, strict=True) if keep]
    source = f"{run.path}/{task}/{method}"
    if not kept.any():  # no confidence at all (verbal, when no answer had a number): an empty fitting split
        empty = np.zeros(0, dtype=np.float64)
        return ids, Predictions(empty, empty, None, None, source)
    full = method_predictions(records, method, source, kept)
    # Top label only: a calibrator maps the confidence in the predicted answer, whatever the option count.
    return ids, Predictions(full.confidences, full.correct, None, None, source)


def _check_fitting_split(fit: Predictions, run: EvalRun, task: str, method: str) -> None:
    """Refuses a fitting split too small, or of one outcome only, to fit a calibrator on."""
    where = f"task {task!r}, method {method!r} of {run.path}"
    if fit.n_items < MIN_FIT_ITEMS:
        raise InputError(
            f"{where}: the fitting split has {fit.n_items} answers with a confidence; a calibrator needs at "
            f"least {MIN_FIT_ITEMS}. Raise `fit_share`, evaluate more items, or leave the method out with "
            "`methods`.",
            parameter="fit_share",
        )
    n_right = int(fit.correct.sum())
    if n_right in (0, fit.n_items):
        outcome = "right" if n_right else "wrong"
        raise InputError(
            f"{where}: all {fit.n_items} answers in the fitting split are {outcome}, so a calibrator can "
            "only learn a constant (Platt's slope and isotonic's steps need right and wrong answers). "
            "Raise `fit_share`, evaluate more items, or leave the method out with `methods`.",
            parameter="fit_share",
        )


def _check_applicable(apply_to: EvalRun, task: str, method: str) -> None:
    """Refuses an ``apply_to`` run without ``task`` or ``method``."""
    if task not in apply_to.records:
        raise InputError(
            f"`apply_to` {apply_to.path} has no task {task!r} (it has {', '.join(apply_to.records)}); apply "
            "the calibrators to an evaluation of the same tasks.",
            parameter="apply_to",
        )
    if method not in apply_to.methods:
        raise InputError(
            f"`apply_to` {apply_to.path} has no confidence method {method!r} (it computed "
            f"{', '.join(apply_to.methods)}); evaluate it with the same `methods`, or choose methods both "
            "runs have.",
            parameter="apply_to",
        )


def check_recalibration_out(out: Path) -> None:
    """Refuses an output directory that holds a run of another kind (an evaluation, a comparison, ...).

    A calibration written before is replaced; a directory of other files is written into.

    Raises:
        InputError: If ``out`` holds another llmcal run.
    """
    if not out.is_dir() or not any(entry.name != LOCK_NAME for entry in out.iterdir()):
        return
    try:
        kind = run_kind(out)
    except InputError:
        return  # not an llmcal run: nothing of ours to overwrite
    if kind != CALIBRATION_KIND:
        raise InputError(
            f"`out` {out} holds a run of kind {kind!r}, not a calibration; write the calibration into "
            "another directory.",
            parameter="out",
        )


def save_recalibration(
    out_dir: str | Path, results: RecalibrationResults, run: EvalRun, apply_to: EvalRun | None = None
) -> Path:
    """Writes ``results`` as a run directory (``calibration.json``, then ``run.json``), one writer at a time.

    Args:
        out_dir: The directory (created if needed).
        results: What :func:`recalibrate` returned for ``run`` and ``apply_to``.
        run: The evaluation fitted on; its model and its tasks' item digests go into the manifest.
        apply_to: The evaluation measured on, if not ``run``.

    Raises:
        InputError: If ``out_dir`` holds another kind of run or another llmcal run is writing it.
    """
    out = Path(out_dir)
    tasks = {entry.task for entry in results.methods}
    manifest = build_manifest(
        CALIBRATION_KIND,
        model=dict(run.manifest.get("model", {})),
        settings=results.settings.to_dict(),
        tasks={task: records for task, records in run.records.items() if task in tasks},
        fit_run=str(run.path),
        apply_to=None if apply_to is None else {"path": str(apply_to.path), "model": apply_to.model},
    )
    with OutputLock(out, "llmcal calibrate"):
        check_recalibration_out(out)
        write_recalibration(out, results, manifest)
    return out
