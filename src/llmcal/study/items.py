"""The items of one part of the study: a fixed test and calibration split, and a pool to draw training from.

The same ``split_seed`` gives every part the same test and calibration items, so every model, loss and seed
is read on one test set and seeds can be paired item by item. Each training seed draws its own items from
the pool (a seeded sample, stable across Python versions and runs).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from llmcal.errors import InputError
from llmcal.study.settings import Splits
from llmcal.tasks.schema import MCItem
from llmcal.tasks.selection import select_tasks
from llmcal.tasks.spec import ClozeStyle

__all__ = ["StudyItems", "draw_items", "training_draw"]


@dataclass(frozen=True)
class StudyItems:
    """A part's items and how they are prompted."""

    style: ClozeStyle
    test: list[MCItem]
    calibration: list[MCItem]
    pool: list[MCItem]

    def ids(self, split: str) -> list[str]:
        """The item ids of ``split`` (``test``, ``calibration`` or ``pool``), in order."""
        items: list[MCItem] = getattr(self, split)
        return [item.id for item in items]


def draw_items(splits: Splits, split_seed: int) -> StudyItems:
    """The test, calibration and training-pool items of ``splits.task``, after a seeded shuffle.

    Raises:
        InputError: If the task is unknown, not multiple-choice, or too small for the splits.
    """
    (task,) = select_tasks([splits.task])
    items = task.mc_items()
    needed = splits.n_test + splits.n_calibration + splits.n_train
    if needed > len(items):
        raise InputError(
            f"task {splits.task!r} has {len(items)} items; the study's splits need {needed} "
            f"({splits.n_test} test, {splits.n_calibration} calibration, {splits.n_train} training).",
            parameter="splits",
        )
    random.Random(split_seed).shuffle(items)
    test_end = splits.n_test
    calibration_end = test_end + splits.n_calibration
    return StudyItems(task.style, items[:test_end], items[test_end:calibration_end], items[calibration_end:])


def training_draw(pool: Sequence[MCItem], n: int, seed: int) -> list[MCItem]:
    """``n`` items of ``pool`` drawn by ``seed`` (all of them when the pool is smaller), in pool order."""
    if n >= len(pool):
        return list(pool)
    chosen = set(random.Random(f"training-draw-{seed}").sample(range(len(pool)), n))
    return [item for index, item in enumerate(pool) if index in chosen]
