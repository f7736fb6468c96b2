"""Confidence methods: how per-option scores become a probability over the options (docs/papers.md).

Each method maps a record to one score per option, ``s_k``; the confidence vector is ``softmax(s)``:

- ``sum``: the option's log-likelihood (sum of token log-probs);
- ``mean``: the log-likelihood divided by the option's token count (length-normalised);
- ``min``: the least likely token's log-probability;
- ``choice``: ``log p(letter_k)`` at the answer position of the letters prompt.

A method is one :func:`confidence_method` registration: its name, the request family whose scores it
reads (:mod:`llmcal.confidence.families`; extraction scores each family once) and how it reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.special import softmax

from llmcal.confidence.families import CONTINUATIONS, LETTERS, RequestFamily
from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.metrics.validation import padded_rows
from llmcal.registry import Registry

__all__ = [
    "METHODS",
    "ConfidenceMethod",
    "OptionProbabilities",
    "confidence_method",
    "option_scores",
    "probabilities",
]

ScoreReader = Callable[[ItemRecord], list[float] | None]
"""Per-option scores from a record, or ``None`` if the record lacks its family's scores."""


@dataclass(frozen=True)
class ConfidenceMethod:
    """A confidence method: the scoring requests it needs and how it turns a record into option scores.

    Attributes:
        name: The name users choose it by (``--methods``).
        family: The requests whose scores it reads; methods sharing a family share one scoring pass.
        read_scores: Per-option scores ``s_k`` from a record (``None`` if the record lacks them).
    """

    name: str
    family: RequestFamily
    read_scores: ScoreReader


METHODS: Registry[ConfidenceMethod] = Registry("confidence method")
"""Every confidence method by name, in registration order; filled only by :func:`confidence_method`."""


def confidence_method(name: str, family: RequestFamily) -> Callable[[ScoreReader], ScoreReader]:
    """Decorator registering a score reader as the confidence method ``name`` reading ``family``.

    Raises:
        ValueError: If a method called ``name`` is already registered.
    """

    def register(read_scores: ScoreReader) -> ScoreReader:
        METHODS.add(name, ConfidenceMethod(name, family, read_scores))
        return read_scores

    return register


@confidence_method("sum", CONTINUATIONS)
def _log_likelihood(record: ItemRecord) -> list[float] | None:
    return None if record.options is None else [option.total for option in record.options]


@confidence_method("mean", CONTINUATIONS)
def _mean_token_log_likelihood(record: ItemRecord) -> list[float] | None:
    return None if record.options is None else [option.total / option.n_tokens for option in record.options]


@confidence_method("min", CONTINUATIONS)
def _least_likely_token(record: ItemRecord) -> list[float] | None:
    return None if record.options is None else [option.minimum for option in record.options]


@confidence_method("choice", LETTERS)
def _letter_log_probability(record: ItemRecord) -> list[float] | None:
    return None if record.letters is None else list(record.letters)


def option_scores(record: ItemRecord, method: str) -> NDArray[np.float64]:
    """The per-option scores ``s`` of ``record`` under ``method``.

    Raises:
        InputError: If the record lacks the data the method needs, or a score is NaN/inf (naming the item).
    """
    scores = METHODS.get(method).read_scores(record)
    if scores is None:
        raise InputError(f"{record.task}/{record.id}: the record has no scores for method {method!r}.")
    array = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(array).all():
        raise InputError(
            f"{record.task}/{record.id}: method {method!r} gave non-finite option scores {scores}; "
            "the model produced NaN/inf (try `dtype=float32`).",
            parameter="dtype",
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
