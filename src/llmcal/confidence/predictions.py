"""Records of a task as metric inputs: one confidence method's predictions, of either kind of item.

A multiple-choice record gives every option's probability (every metric applies); an open-ended record
gives the confidence in the generated answer and whether the answer matches an accepted one (the
top-label metrics apply). A generation method may give no confidence for some records (a verbalised
answer without a number): :func:`answered` says which records have one, and the predictions cover those.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from llmcal.confidence.generation_methods import GENERATION_METHODS
from llmcal.confidence.methods import METHODS, probabilities
from llmcal.confidence.records import AnyRecord, GenerationRecord, ItemRecord
from llmcal.errors import InputError
from llmcal.metrics.predictions import Predictions
from llmcal.tasks.answers import exact_match

__all__ = ["answered", "generation_confidence", "method_predictions"]


def generation_confidence(record: GenerationRecord, method: str) -> float | None:
    """The confidence ``method`` gives ``record``'s answer, ``None`` if it gives none.

    Raises:
        InputError: If ``method`` is unknown, the record lacks the pass the method needs (the run did not
            compute it), or the confidence is not a probability.
    """
    spec = GENERATION_METHODS.get(method)
    if not spec.needs.ran_on(record):
        raise InputError(f"{record.task}/{record.id}: the record has no scores for method {method!r}.")
    value = spec.confidence(record)
    if value is not None and not 0.0 <= value <= 1.0:
        raise InputError(f"{record.task}/{record.id}: method {method!r} gave {value}, not a probability.")
    return value


def _generation_records(records: Sequence[AnyRecord], method: str) -> list[GenerationRecord] | None:
    """The records as generation records, ``None`` for multiple-choice ones; checked against ``method``."""
    generated = [record for record in records if isinstance(record, GenerationRecord)]
    if not generated:
        if method in GENERATION_METHODS and method not in METHODS:
            raise InputError(
                f"{method!r} is a method for open-ended answers; these records are multiple-choice."
            )
        return None
    if len(generated) != len(records):
        raise InputError("The records mix multiple-choice and open-ended items; summarise each kind apart.")
    if method not in GENERATION_METHODS:
        raise InputError(
            f"{method!r} is not a method for open-ended answers; choose from "
            f"{', '.join(GENERATION_METHODS.names())}."
        )
    return generated


def answered(records: Sequence[AnyRecord], method: str) -> NDArray[np.bool_]:
    """Which records ``method`` gives a confidence (every multiple-choice record has one).

    Raises:
        InputError: As :func:`generation_confidence`.
    """
    generated = _generation_records(records, method)
    if generated is None:
        return np.ones(len(records), dtype=np.bool_)
    return np.array(
        [generation_confidence(record, method) is not None for record in generated], dtype=np.bool_
    )


def method_predictions(
    records: Sequence[AnyRecord], method: str, source: str, rows: NDArray[np.bool_] | None = None
) -> Predictions:
    """The predictions confidence method ``method`` makes on ``records``, labelled ``source``.

    Args:
        records: One task's records, all of one kind.
        method: A confidence method for that kind.
        source: Label of the predictions.
        rows: Only these records (a boolean mask); default: every record, which for a method that gives
            some records no confidence is an error, so pass :func:`answered` (or a subset of it).

    Raises:
        InputError: If ``method`` is unknown or of the other kind, the records lack the scores it needs, or
            a selected record has no confidence under it.
    """
    if not records:
        raise InputError("No records to compute confidences from.")
    selected = np.ones(len(records), dtype=np.bool_) if rows is None else rows
    generated = _generation_records(records, method)
    if generated is None:
        mc = [
            record
            for record, keep in zip(records, selected, strict=True)
            if keep and isinstance(record, ItemRecord)
        ]
        table = probabilities(mc, method)
        return Predictions.from_probabilities(table.probs, table.labels, source, table.option_mask)
    confidences, correct = [], []
    for record, keep in zip(generated, selected, strict=True):
        if not keep:
            continue
        value = generation_confidence(record, method)
        if value is None:
            raise InputError(
                f"{record.task}/{record.id}: method {method!r} gives this answer no confidence; select the "
                "answered records (llmcal.confidence.answered)."
            )
        confidences.append(value)
        correct.append(float(exact_match(record.generation.text, record.answers)))
    return Predictions(
        np.array(confidences, dtype=np.float64), np.array(correct, dtype=np.float64), None, None, source
    )
