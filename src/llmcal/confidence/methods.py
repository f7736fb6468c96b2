"""Confidence methods: how per-option scores become a probability over the options (DESIGN.md).

Each method maps a record to one score per option, ``s_k``; the confidence vector is ``softmax(s)``:

- ``sum``: the option's log-likelihood (sum of token log-probs);
- ``mean``: the log-likelihood divided by the option's token count (length-normalised);
- ``min``: the least likely token's log-probability;
- ``choice``: ``log p(letter_k)`` at the answer position of the letters prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.special import softmax

from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.metrics.validation import padded_rows
from llmcal.registry import Registry

__all__ = [
    "CONTINUATION_METHODS",
    "METHODS",
    "MethodName",
    "OptionProbabilities",
    "option_scores",
    "probabilities",
]

MethodName = Literal["sum", "mean", "min", "choice"]
CONTINUATION_METHODS = frozenset({"sum", "mean", "min"})

OptionScoring = Callable[[ItemRecord], list[float] | None]
METHODS: Registry[OptionScoring] = Registry("confidence method")
METHODS.add("sum", lambda r: None if r.options is None else [o.total for o in r.options])
METHODS.add("mean", lambda r: None if r.options is None else [o.total / o.n_tokens for o in r.options])
METHODS.add("min", lambda r: None if r.options is None else [o.minimum for o in r.options])
METHODS.add("choice", lambda r: None if r.letters is None else list(r.letters))


def option_scores(record: ItemRecord, method: str) -> NDArray[np.float64]:
    """The per-option scores ``s`` of ``record`` under ``method``.

    Raises:
        InputError: If the record lacks the data the method needs, or a score is NaN/inf (naming the item).
    """
    scores = METHODS.get(method)(record)
    if scores is None:
        raise InputError(f"{record.task}/{record.id}: the record has no scores for method {method!r}.")
    array = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(array).all():
        raise InputError(
            f"{record.task}/{record.id}: method {method!r} gave non-finite option scores {scores}; "
            "the model produced NaN/inf (try --dtype float32)."
        )
    return array


class OptionProbabilities(NamedTuple):
    """Per-option probabilities of a set of items, as the class-wise metrics take them.

    Attributes:
        probs: ``(n, K)`` probabilities, zero-padded to the largest option count ``K``.
        labels: ``(n,)`` gold option indices.
        option_mask: ``(n, K)``, True where the item has that option.
    """

    probs: NDArray[np.float64]
    labels: NDArray[np.intp]
    option_mask: NDArray[np.bool_]

    def subset(self, rows: NDArray[np.bool_]) -> OptionProbabilities:
        """The items selected by a boolean row mask."""
        return OptionProbabilities(self.probs[rows], self.labels[rows], self.option_mask[rows])


def probabilities(records: Sequence[ItemRecord], method: str) -> OptionProbabilities:
    """``softmax(s)`` for every record, zero-padded to the largest option count, with labels and mask."""
    if not records:
        raise InputError("No records to compute confidences from.")
    probs, mask = padded_rows([softmax(option_scores(record, method)) for record in records])
    labels = np.array([record.answer for record in records], dtype=np.intp)
    return OptionProbabilities(probs, labels, mask)
