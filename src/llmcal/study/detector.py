"""CogCalib's known/unknown detector on real models: the gold answer's NLL against a fitted threshold.

What the detector reads is each base model's gold-answer NLL on the calibration and test items (its base
cell), summed over the answer's tokens or per token, and, with style adaptation, the same NLLs after a
one-epoch SFT warm-up (LoRA) on training items, one cell per seed. The ground truth stays the base model's
knowledge (SliCK's greedy rule before any training): the warm-up is meant to teach the answer format, not
the facts. The thresholds and their scores are computed from these cells when the verdicts are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcal.finetune.settings import FinetuneSettings, LoraSettings
from llmcal.runs.manifest import records_digest
from llmcal.runs.study import Cell, ProbabilityTable
from llmcal.study.base_model import base_cell, items_spec, model_slug
from llmcal.study.cells import CellRunner
from llmcal.study.items import StudyItems, draw_items, training_draw
from llmcal.study.measurements import fine_tuned, read_model
from llmcal.study.models import ModelCache
from llmcal.study.settings import DetectorPart

__all__ = ["DetectorCells", "run_detector"]


@dataclass(frozen=True)
class DetectorCells:
    """One model's detector cells: its base cell, and its style-adapted cells (one per seed)."""

    model: str
    base: Cell
    adapted: list[Cell]


def run_detector(
    part: DetectorPart, split_seed: int, cells: CellRunner, models: ModelCache
) -> list[DetectorCells]:
    """Runs (or reads back) every model's detector cells."""
    results = []
    for model in part.models:
        items = draw_items(part.splits, split_seed)
        items_key = items_spec(part.splits, split_seed, items)
        base = base_cell(cells, models, model, items, items_key)
        adapted = []
        if part.style_adaptation_items > 0:
            adapted = [
                _adapted_cell(part, model, items, items_key, seed, cells, models) for seed in part.seeds
            ]
        results.append(DetectorCells(model, base, adapted))
    return results


def _adapted_cell(
    part: DetectorPart,
    model: str,
    items: StudyItems,
    items_key: dict[str, Any],
    seed: int,
    cells: CellRunner,
    models: ModelCache,
) -> Cell:
    """The gold-answer NLLs after style adaptation: one SFT epoch (LoRA) on ``seed``'s training items."""
    train = training_draw(items.pool, part.style_adaptation_items, seed)
    spec = {
        "kind": "style-adaptation",
        "model": model,
        "items": items_key,
        "training": {"ids": records_digest(train), "n": len(train)},
        "learning_rate": part.learning_rate,
        "lora": {"rank": 8, "alpha": 16},
        "seed": seed,
    }

    def work(directory: Path) -> tuple[dict[str, ProbabilityTable], dict[str, Any]]:
        backend = models.get(model)
        settings = FinetuneSettings(
            loss="sft", epochs=1, learning_rate=part.learning_rate, batch_size=8, lora=LoraSettings(),
            style=items.style, seed=seed,
        )  # fmt: skip
        reader, _ = fine_tuned(backend, train, settings, directory)
        readings = {
            split: read_model(reader, getattr(items, split), items.style) for split in ("calibration", "test")
        }
        nll = {
            split: {method: reading.gold_nll(method) for method in ("sum", "mean")}
            for split, reading in readings.items()
        }
        return {"test:sum": readings["test"].table()}, {"gold_nll": nll}

    return cells(f"detector-{model_slug(model)}-adapted-seed{seed}", spec, work)
