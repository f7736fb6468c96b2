"""Alignment, then restoring calibration: DPO of a base model to a confidence collapse, then CFT and RCFT.

Per seed: DPO (LoRA) on preference pairs from the seed's training items (gold option over a random wrong
one), the aligned model saved in its cell and read on the test items under every confidence method, and on
the calibration and training items; then each restoring fine-tuning (LoRA) of the aligned model on the same
training items, read on the test, calibration and training items (the last says whether the loss lowers
ECE where it trains: if CFT does not, the implementation is suspect). RCFT's constant is chosen on the
calibration split from the first seed's runs, as :mod:`llmcal.study.prevention` chooses its strengths; the
temperature-scaling baseline is fitted on the aligned model's calibration split when the verdicts are made.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcal.errors import InputError
from llmcal.finetune.alignment import align
from llmcal.finetune.preference_pairs import preference_pairs_from_items
from llmcal.finetune.settings import AlignSettings, FinetuneSettings, LoraSettings
from llmcal.runs.manifest import records_digest
from llmcal.runs.study import Cell, ProbabilityTable
from llmcal.study.base_model import BASE_METHODS, base_cell, items_spec
from llmcal.study.cells import CellRunner
from llmcal.study.items import StudyItems, draw_items, training_draw
from llmcal.study.measurements import fine_tuned, in_memory_backend, read_model
from llmcal.study.models import ModelCache
from llmcal.study.prevention import FineTuning, candidate_trials, selection_cell
from llmcal.study.settings import Capacity, RestorePart
from llmcal.tasks.schema import MCItem

__all__ = ["RestoreCells", "run_restore"]

_ALIGNED_MODEL = Path("run") / "model"


@dataclass(frozen=True)
class RestoreCells:
    """The part's cells: the base model, each seed's DPO, the selection, and each restoring fine-tuning."""

    base: Cell
    dpo: dict[int, Cell]
    selection: Cell
    runs: dict[FineTuning, Cell]


def run_restore(part: RestorePart, split_seed: int, cells: CellRunner, models: ModelCache) -> RestoreCells:
    """Runs (or reads back) every cell of the part."""
    items = draw_items(part.splits, split_seed)
    items_key = items_spec(part.splits, split_seed, items)
    base = base_cell(cells, models, part.model, items, items_key)
    trains = {seed: training_draw(items.pool, part.splits.n_train, seed) for seed in part.seeds}
    dpo = {seed: _dpo_cell(part, items, items_key, trains[seed], seed, cells, models) for seed in part.seeds}
    lora = Capacity("lora-r8", 8, part.learning_rate)
    runs: dict[FineTuning, Cell] = {}

    def restore(fine_tuning: FineTuning) -> Cell:
        seed = fine_tuning.seed
        runs[fine_tuning] = _restore_cell(part, items, trains[seed], dpo[seed], fine_tuning, cells, models)
        return runs[fine_tuning]

    trials = {trial: restore(trial) for trial in candidate_trials(part.candidates, lora, part.seeds[0])}
    selection = selection_cell(
        "selection-restore", part.candidates, trials, table="calibration:sum", reference="cft",
        tolerance=part.accuracy_tolerance, cells=cells,
        rule="lowest calibration-split ECE (10 bins) among values within "
        f"{part.accuracy_tolerance} of CFT's calibration accuracy",
    )  # fmt: skip
    chosen = selection.values["chosen"]
    for seed in part.seeds[1:]:
        for loss, pick in chosen.items():
            restore(FineTuning(loss, pick["parameter"], pick["value"], lora, seed))
    return RestoreCells(base, dpo, selection, runs)


def _dpo_cell(
    part: RestorePart,
    items: StudyItems,
    items_key: dict[str, Any],
    train: list[MCItem],
    seed: int,
    cells: CellRunner,
    models: ModelCache,
) -> Cell:
    settings = AlignSettings(
        loss="dpo",
        beta=part.dpo_beta,
        epochs=part.dpo_epochs,
        learning_rate=part.dpo_learning_rate,
        batch_size=part.batch_size,
        lora=LoraSettings(),
        seed=seed,
    )
    spec = {
        "kind": "dpo",
        "model": part.model,
        "items": items_key,
        "training": {"ids": records_digest(train), "n": len(train)},
        "settings": settings.record(),
        "methods": list(BASE_METHODS),
    }

    def work(directory: Path) -> tuple[dict[str, ProbabilityTable], dict[str, Any]]:
        backend = models.get(part.model)
        pairs = preference_pairs_from_items(train, style=items.style, seed=seed)
        aligned, results = align(
            copy.deepcopy(backend.model),
            backend.tokenizer,
            pairs,
            settings,
            directory / "run",
            save_model=True,
        )
        reader = in_memory_backend(aligned, backend.tokenizer)
        test = read_model(reader, items.test, items.style, BASE_METHODS)
        tables = {f"test:{method}": test.table(method) for method in BASE_METHODS}
        tables["calibration:sum"] = read_model(reader, items.calibration, items.style, ("sum",)).table()
        tables["train:sum"] = read_model(reader, train, items.style, ("sum",)).table()
        values = {"train_loss": results.train_loss, "log": results.log, "model": str(_ALIGNED_MODEL)}
        return tables, values

    return cells(f"restore-dpo-seed{seed}", spec, work)


def _restore_cell(
    part: RestorePart,
    items: StudyItems,
    train: list[MCItem],
    dpo: Cell,
    fine_tuning: FineTuning,
    cells: CellRunner,
    models: ModelCache,
) -> Cell:
    """A restoring fine-tuning of ``dpo``'s aligned model, read on test, calibration and training items."""

    def work(directory: Path) -> tuple[dict[str, ProbabilityTable], dict[str, Any]]:
        backend = models.get(str(_aligned_model(directory.parent, dpo)))
        settings = FinetuneSettings(
            loss=fine_tuning.loss, epochs=part.epochs, learning_rate=part.learning_rate,
            batch_size=part.batch_size, lora=LoraSettings(), loss_configs=fine_tuning.loss_configs(),
            style=items.style, seed=fine_tuning.seed,
        )  # fmt: skip
        reader, results = fine_tuned(backend, train, settings, directory)
        splits = (("test", items.test), ("calibration", items.calibration), ("train", train))
        tables = {
            f"{split}:sum": read_model(reader, split_items, items.style, ("sum",)).table()
            for split, split_items in splits
        }
        return tables, {"train_loss": results.train_loss, "log": results.log}

    name = fine_tuning.name.replace("prevention-", "restore-").replace("-lora-r8", "")
    return cells(name, _restore_spec(part, dpo, fine_tuning), work)


def _restore_spec(part: RestorePart, dpo: Cell, fine_tuning: FineTuning) -> dict[str, Any]:
    return {
        "kind": "restore",
        "aligned": {"cell": dpo.name, "spec": dpo.spec},
        "loss": fine_tuning.loss,
        "parameter": fine_tuning.parameter,
        "value": fine_tuning.value,
        "epochs": part.epochs,
        "learning_rate": part.learning_rate,
        "batch_size": part.batch_size,
        "lora": {"rank": 8, "alpha": 16},
        "seed": fine_tuning.seed,
    }


def _aligned_model(cells_dir: Path, dpo: Cell) -> Path:
    """The folder of ``dpo``'s aligned model.

    Raises:
        InputError: If it is gone (the cell finished, its model was deleted since).
    """
    folder = cells_dir / dpo.name / _ALIGNED_MODEL
    if not folder.is_dir():
        raise InputError(
            f"{folder}: the aligned model of {dpo.name} is missing; delete {cells_dir / dpo.name} so "
            "the study aligns again, then rerun.",
            parameter="out",
        )
    return folder
