"""Ground-truth prior knowledge (SliCK-style): the model knows an item if it already answers it correctly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmcal.confidence.methods import option_scores
from llmcal.confidence.records import ItemRecord

__all__ = ["known_from_records"]


def known_from_records(records: Sequence[ItemRecord], method: str = "sum") -> dict[str, bool]:
    """``item id -> known``: whether the argmax over the options under ``method`` is the gold option.

    The records come from evaluating the model *before* fine-tuning, under the item's own scoring. This is
    Gekhman et al.'s (SliCK) greedy criterion; their sampled categories (HighlyKnown ... Unknown) need
    generation and are not computed here.
    """
    return {record.id: int(np.argmax(option_scores(record, method))) == record.answer for record in records}
