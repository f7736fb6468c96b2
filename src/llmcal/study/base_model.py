"""A model before any training, read once per model: what it knows and how it scores every split.

The base cell of a model serves every part that uses it: known flags (SliCK's greedy rule) of the test,
calibration and pool items; the test items under each confidence method; the gold-answer NLLs (summed and
per token) the detector reads; each item's relation.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from llmcal.runs.manifest import records_digest
from llmcal.runs.study import Cell, ProbabilityTable
from llmcal.study.cells import CellRunner
from llmcal.study.items import StudyItems
from llmcal.study.measurements import read_model
from llmcal.study.models import ModelCache
from llmcal.study.settings import Splits

__all__ = ["BASE_METHODS", "base_cell", "items_spec", "model_slug"]

# Oh & Hwang's three methods and llmcal's per-token mean, read on the test items of every base model.
BASE_METHODS = ("sum", "mean", "min", "choice")
SPLITS = ("test", "calibration", "pool")


def model_slug(name: str) -> str:
    """A model name as a directory name part."""
    return "".join(char if char.isalnum() or char in "-." else "-" for char in name).strip("-")


def items_spec(splits: Splits, split_seed: int, items: StudyItems) -> dict[str, Any]:
    """What a cell's items depend on: the task, the split sizes and seed, and the ids drawn."""
    return {
        **asdict(splits),
        "split_seed": split_seed,
        "ids": {split: records_digest(getattr(items, split)) for split in SPLITS},
    }


def base_cell(
    cells: CellRunner, models: ModelCache, model: str, items: StudyItems, items_key: dict[str, Any]
) -> Cell:
    """The base cell of ``model`` on ``items`` (run once, then read back)."""
    spec = {"kind": "base", "model": model, "items": items_key, "methods": list(BASE_METHODS)}

    def work(_: Any) -> tuple[dict[str, ProbabilityTable], dict[str, Any]]:
        backend = models.get(model)
        test = read_model(backend, items.test, items.style, BASE_METHODS)
        readings = {
            "test": test,
            "calibration": read_model(backend, items.calibration, items.style),
            "pool": read_model(backend, items.pool, items.style),
        }
        tables = {f"test:{method}": test.table(method) for method in BASE_METHODS}
        tables |= {f"{split}:sum": readings[split].table() for split in ("calibration", "pool")}
        values = {
            "source": backend.describe(),
            "known": {split: reading.known() for split, reading in readings.items()},
            "gold_nll": {
                split: {method: readings[split].gold_nll(method) for method in ("sum", "mean")}
                for split in ("test", "calibration")
            },
            "relation": {split: [item.subject for item in getattr(items, split)] for split in SPLITS},
        }
        return tables, values

    return cells(f"base-{model_slug(model)}", spec, work)
