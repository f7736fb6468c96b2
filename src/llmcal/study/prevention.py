"""CogCalib on a real instruct model: each loss across training length and capacity, chosen as a user would.

1. **Selection.** Every candidate value of every loss is trained under the first seed at the main capacity;
   the value kept is the one with the lowest ECE on the *calibration* split after the longest training,
   among those whose calibration accuracy is within ``accuracy_tolerance`` of SFT's. The test split is not
   read. The choice and every candidate's numbers are the ``selection-prevention`` cell.
2. **Dose-response.** The chosen values under every seed at the main capacity, and the ``capacity_losses``
   at every other capacity: each run trains ``max(epochs)`` epochs and is read on the test items after each
   of ``epochs``.
3. **Knowledge ratio.** SFT on known-only and on unknown-only training items (as many of each).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from llmcal.errors import InputError
from llmcal.finetune.loss_registry import LOSSES
from llmcal.finetune.run import finetune
from llmcal.finetune.settings import FinetuneSettings, LoraSettings
from llmcal.metrics.accuracy import accuracy
from llmcal.metrics.calibration_error import ece
from llmcal.runs.manifest import records_digest
from llmcal.runs.study import Cell, ProbabilityTable
from llmcal.study.base_model import base_cell, items_spec
from llmcal.study.cells import CellRunner
from llmcal.study.items import StudyItems, draw_items, training_draw
from llmcal.study.measurements import in_memory_backend, read_model
from llmcal.study.models import ModelCache
from llmcal.study.settings import Candidate, Capacity, PreventionPart
from llmcal.tasks.schema import MCItem

__all__ = [
    "FineTuning",
    "PreventionCells",
    "calibration_scores",
    "candidate_trials",
    "check_both_kinds",
    "run_prevention",
    "selection_cell",
    "selection_choice",
]


@dataclass(frozen=True)
class FineTuning:
    """One fine-tuning of the grid: a loss at a strength, a capacity, a seed and a training set."""

    loss: str
    parameter: str
    value: float | None
    capacity: Capacity
    seed: int
    training: str = "all"  # all | known | unknown

    @property
    def name(self) -> str:
        """The cell's name."""
        strength = f"-{self.parameter}{self.value:g}" if self.parameter and self.value is not None else ""
        training = "" if self.training == "all" else f"{self.training}-only-"
        return f"prevention-{training}{self.loss}{strength}-{self.capacity.name}-seed{self.seed}"

    def loss_configs(self) -> tuple[object, ...]:
        """The loss's config with the strength set (its defaults otherwise)."""
        config = LOSSES.get(self.loss).config_type()
        if self.parameter and self.value is not None:
            config = replace(config, **{self.parameter: self.value})
        return (config,)


@dataclass(frozen=True)
class PreventionCells:
    """The part's cells: the base model, the selection, and each fine-tuning by its :class:`FineTuning`."""

    base: Cell
    selection: Cell
    runs: dict[FineTuning, Cell]


def run_prevention(
    part: PreventionPart, split_seed: int, cells: CellRunner, models: ModelCache
) -> PreventionCells:
    """Runs (or reads back) every cell of the part."""
    items = draw_items(part.splits, split_seed)
    items_key = items_spec(part.splits, split_seed, items)
    base = base_cell(cells, models, part.model, items, items_key)
    check_both_kinds(base, part.model)
    main = part.capacities[0]
    runner = _Runner(part, items, items_key, base, cells, models)
    trials = {trial: runner(trial) for trial in candidate_trials(part.candidates, main, part.seeds[0])}
    selection = selection_cell(
        "selection-prevention", part.candidates, trials, table=f"calibration@{max(part.epochs)}",
        reference="sft", tolerance=part.accuracy_tolerance, cells=cells,
        rule=f"lowest calibration-split ECE (10 bins) after {max(part.epochs)} epochs among values within "
        f"{part.accuracy_tolerance} of SFT's calibration accuracy",
    )  # fmt: skip
    chosen = selection.values["chosen"]
    plan = [
        FineTuning(loss, chosen[loss]["parameter"], chosen[loss]["value"], main, seed)
        for seed in part.seeds[1:]
        for loss in chosen
    ]
    plan += [
        FineTuning(loss, chosen[loss]["parameter"], chosen[loss]["value"], capacity, seed)
        for capacity in part.capacities[1:]
        for loss in part.capacity_losses
        for seed in part.seeds
    ]
    if part.knowledge_only:
        plan += [
            FineTuning("sft", "", None, main, seed, kind)
            for seed in part.seeds
            for kind in ("known", "unknown")
        ]
    for fine_tuning in plan:
        runner(fine_tuning)
    return PreventionCells(base, selection, runner.done)


def candidate_trials(candidates: Sequence[Candidate], capacity: Capacity, seed: int) -> list[FineTuning]:
    """A fine-tuning per value of every candidate (one for a loss without a grid): what is chosen from."""
    return [
        FineTuning(candidate.loss, candidate.parameter, value, capacity, seed)
        for candidate in candidates
        for value in candidate.values or (None,)
    ]


def check_both_kinds(base: Cell, model: str) -> None:
    """Refuses a calibration split without known and unknown items: CogCalib's threshold needs both.

    Raises:
        InputError: Naming the counts and the setting that gives more items.
    """
    known = base.values["known"]["calibration"]
    if all(known) or not any(known):
        raise InputError(
            f"{model} knows {sum(known)} of the {len(known)} calibration items; CogCalib's known/unknown "
            "threshold needs some of each. Give the part more calibration items (splits.n_calibration).",
            parameter="splits",
        )


def selection_choice(
    candidates: list[dict[str, Any]], sft: dict[str, float], tolerance: float
) -> dict[str, Any]:
    """The value a user would keep: lowest calibration ECE among those within ``tolerance`` of SFT's accuracy.

    Args:
        candidates: Each with ``value``, ``ece`` and ``accuracy`` on the calibration split.
        sft: SFT's ``ece`` and ``accuracy`` there.
        tolerance: Accuracy a candidate may lose against SFT and stay eligible.

    When none is eligible, the most accurate one is kept (and ``eligible`` says so).
    """
    eligible = [c for c in candidates if c["accuracy"] >= sft["accuracy"] - tolerance]
    if eligible:
        best = min(eligible, key=lambda c: (c["ece"], -c["accuracy"]))
    else:
        best = max(candidates, key=lambda c: (c["accuracy"], -c["ece"]))
    return {"value": best["value"], "eligible": bool(eligible)}


class _Runner:
    """Runs fine-tuning cells of the part, remembering each."""

    def __init__(
        self,
        part: PreventionPart,
        items: StudyItems,
        items_key: dict[str, Any],
        base: Cell,
        cells: CellRunner,
        models: ModelCache,
    ) -> None:
        self.part, self.items, self.items_key, self.base = part, items, items_key, base
        self.cells, self.models = cells, models
        self.done: dict[FineTuning, Cell] = {}

    def training_items(self, fine_tuning: FineTuning) -> list[MCItem]:
        n = self.part.splits.n_train
        if fine_tuning.training == "all":
            return training_draw(self.items.pool, n, fine_tuning.seed)
        want = fine_tuning.training == "known"
        flags = self.base.values["known"]["pool"]
        kind = [item for item, known in zip(self.items.pool, flags, strict=True) if known == want]
        other = [item for item, known in zip(self.items.pool, flags, strict=True) if known != want]
        # As many known as unknown items, so the two runs differ only in what the model knew.
        return training_draw(kind, min(n, len(kind), len(other)), fine_tuning.seed)

    def __call__(self, fine_tuning: FineTuning) -> Cell:
        part = self.part
        train = self.training_items(fine_tuning)
        epochs = sorted(set(part.epochs))
        spec = {
            "kind": "finetune",
            "model": part.model,
            "items": self.items_key,
            "training": {"kind": fine_tuning.training, "ids": records_digest(train), "n": len(train)},
            "loss": fine_tuning.loss,
            "parameter": fine_tuning.parameter,
            "value": fine_tuning.value,
            "capacity": asdict(fine_tuning.capacity),
            "seed": fine_tuning.seed,
            "epochs_read": epochs,
            "batch_size": part.batch_size,
        }
        cell = self.cells(
            fine_tuning.name, spec, lambda directory: self._work(fine_tuning, train, epochs, directory)
        )
        self.done[fine_tuning] = cell
        return cell

    def _work(
        self, fine_tuning: FineTuning, train: list[MCItem], epochs: list[int], directory: Any
    ) -> tuple[dict[str, ProbabilityTable], dict[str, Any]]:
        backend = self.models.get(self.part.model)
        items, last = self.items, epochs[-1]
        tables: dict[str, ProbabilityTable] = {}

        def read(epoch: int, model: Any) -> None:
            if epoch in epochs:
                reader = in_memory_backend(model, backend.tokenizer)
                tables[f"test@{epoch}"] = read_model(reader, items.test, items.style, ("sum",)).table()
                if epoch == last:
                    calibration = read_model(reader, items.calibration, items.style, ("sum",))
                    tables[f"calibration@{epoch}"] = calibration.table()

        capacity = fine_tuning.capacity
        settings = FinetuneSettings(
            loss=fine_tuning.loss,
            epochs=last,
            learning_rate=capacity.learning_rate,
            batch_size=self.part.batch_size,
            lora=None if capacity.full else LoraSettings(rank=capacity.rank, alpha=2 * capacity.rank),
            loss_configs=fine_tuning.loss_configs(),
            style=items.style,
            seed=fine_tuning.seed,
        )
        _, results = finetune(
            copy.deepcopy(backend.model),
            backend.tokenizer,
            train,
            settings,
            directory / "run",
            calibration_items=items.calibration,
            calibration_known=self.base.values["known"]["calibration"],
            save_model=False,
            on_epoch_end=read,
        )
        return tables, {"train_loss": results.train_loss, "log": results.log, "n_train": len(train)}


def calibration_scores(table: ProbabilityTable, n_bins: int = 10) -> dict[str, float]:
    """ECE (``n_bins`` equal-width bins) and accuracy of ``table``: what a strength is chosen by."""
    predictions = table.predictions()
    return {
        "ece": ece(predictions.confidences, predictions.correct, n_bins=n_bins),
        "accuracy": accuracy(predictions.confidences, predictions.correct),
    }


def selection_cell(
    name: str,
    candidates: Sequence[Candidate],
    trials: dict[FineTuning, Cell],
    *,
    table: str,
    reference: str,
    tolerance: float,
    rule: str,
    cells: CellRunner,
) -> Cell:
    """Chooses each candidate's strength from its ``trials`` by :func:`selection_choice` (its own cell).

    Each trial is scored on its ``table`` (a calibration split); ``reference`` is the loss whose accuracy
    the others must stay within ``tolerance`` of (SFT, or CFT after alignment); ``rule`` says so in the spec.

    Why it is long: a cell's name, inputs and spec, each given by the part that chooses.
    """
    spec = {
        "kind": "selection",
        "rule": rule,
        "cells": sorted(cell.name for cell in trials.values()),
        "tolerance": tolerance,
    }

    def work(_: Any) -> tuple[dict[str, ProbabilityTable], dict[str, Any]]:
        scored: dict[str, list[dict[str, Any]]] = {}
        for trial, cell in trials.items():
            scores = calibration_scores(cell.tables[table])
            scored.setdefault(trial.loss, []).append({"value": trial.value, "cell": cell.name, **scores})
        (reference_scores,) = scored[reference]
        chosen = {
            candidate.loss: {
                "parameter": candidate.parameter,
                **(
                    selection_choice(scored[candidate.loss], reference_scores, tolerance)
                    if candidate.values
                    else {"value": None, "eligible": True}
                ),
            }
            for candidate in candidates
        }
        return {}, {"chosen": chosen, "candidates": scored, reference: reference_scores}

    return cells(name, spec, work)
