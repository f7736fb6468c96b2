"""Records of a task as metric inputs: one confidence method's option probabilities, as predictions."""

from __future__ import annotations

from collections.abc import Sequence

from llmcal.confidence.methods import probabilities
from llmcal.confidence.records import ItemRecord
from llmcal.metrics.predictions import Predictions

__all__ = ["method_predictions"]


def method_predictions(records: Sequence[ItemRecord], method: str, source: str) -> Predictions:
    """The predictions confidence method ``method`` makes on ``records``, labelled ``source``.

    Raises:
        InputError: If ``method`` is unknown or the records lack the scores it needs.
    """
    table = probabilities(records, method)
    return Predictions.from_probabilities(table.probs, table.labels, source, table.option_mask)
