"""Per-item results of an evaluation, raw enough that any confidence method can be recomputed later.

A multiple-choice item's record (:class:`ItemRecord`) keeps every option's token log-probabilities; an
open-ended item's (:class:`GenerationRecord`) keeps the generated answer with its tokens' log-probabilities,
the model's P(True)/P(False) of that answer, the text of its verbalised confidence and the sampled answers.
Correctness and confidences are computed from them when results are summarised, so a change to answer
matching or parsing needs no new generations.

How a record is written as a line of ``records.jsonl``, and read back, is the run directory's format:
:mod:`llmcal.runs.records`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmcal.errors import InputError
from llmcal.scoring.requests import ContinuationScore, Generation
from llmcal.tasks.schema import MetadataValue

__all__ = ["AnyRecord", "GenerationRecord", "ItemRecord"]


def _check_finite(task: str, item_id: str, values: list[float]) -> None:
    """NaN/inf scores would poison every metric silently; stop at the item that produced them."""
    if not all(math.isfinite(value) for value in values):
        bad = [value for value in values if not math.isfinite(value)][:3]
        raise InputError(
            f"{task}/{item_id}: the model gave non-finite log-probabilities ({bad}); "
            "with float16/bfloat16 try `dtype=float32`.",
            parameter="dtype",
        )


@dataclass(frozen=True)
class ItemRecord:
    """Everything an evaluation learned about one item.

    Attributes:
        task: Task the item belongs to.
        id: Item id (unique within the task).
        answer: Gold option index.
        n_options: Number of options.
        subject: Optional subject, for breakdowns.
        options: Continuation scores per option, as the backend returned them (``None`` if no
            continuation method ran).
        letters: ``log p(letter_k)`` at the answer position of the letters prompt (``None`` if the
            ``choice`` method did not run).
        metadata: The item's metadata fields (e.g. ``popularity``), for breakdowns of the results.
    """

    task: str
    id: str
    answer: int
    n_options: int
    subject: str | None
    options: tuple[ContinuationScore, ...] | None
    letters: tuple[float, ...] | None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = [v for option in self.options or () for v in option.token_logprobs]
        _check_finite(self.task, self.id, [*values, *(self.letters or ())])

    @property
    def key(self) -> tuple[str, str]:
        """``(task, id)``: unique within a run."""
        return (self.task, self.id)

    @property
    def gold_key(self) -> tuple[Any, ...]:
        """What identifies the item's gold answer: two runs of one item agree on it."""
        return (self.answer, self.n_options)


@dataclass(frozen=True)
class GenerationRecord:
    """Everything an evaluation learned about one open-ended item.

    Attributes:
        task: Task the item belongs to.
        id: Item id (unique within the task).
        answers: The accepted answers.
        subject: Optional subject, for breakdowns.
        generation: The model's greedy answer with its tokens' log-probabilities.
        p_true: ``(log p(" True"), log p(" False"))`` after the P(True) prompt (``None`` if the ``p-true``
            method did not run).
        verbal: The text the model wrote when asked for a probability (``None`` if the ``verbal`` method
            did not run).
        metadata: The item's metadata fields, for breakdowns of the results.
        samples: Answers sampled from the model (``None`` if no method over samples ran), each with its
            tokens' log-probabilities.
        sample_classes: Equivalence classes of the answer, then of each sample (equal numbers: the same
            meaning; :mod:`llmcal.confidence.answer_equivalence`); ``None`` with ``samples``.
    """

    task: str
    id: str
    answers: tuple[str, ...]
    subject: str | None
    generation: Generation
    p_true: tuple[float, float] | None = None
    verbal: str | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    samples: tuple[Generation, ...] | None = None
    sample_classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if (self.samples is None) != (self.sample_classes is None) or (
            self.samples is not None
            and self.sample_classes is not None
            and len(self.sample_classes) != len(self.samples) + 1
        ):
            raise InputError(
                f"{self.task}/{self.id}: a record's sample classes must number its answer and every sample."
            )
        sampled = [value for sample in self.samples or () for value in sample.token_logprobs]
        _check_finite(self.task, self.id, [*self.generation.token_logprobs, *(self.p_true or ()), *sampled])

    @property
    def key(self) -> tuple[str, str]:
        """``(task, id)``: unique within a run."""
        return (self.task, self.id)

    @property
    def gold_key(self) -> tuple[Any, ...]:
        """What identifies the item's gold answer: two runs of one item agree on it."""
        return self.answers


AnyRecord = ItemRecord | GenerationRecord
"""The record of an item of either kind."""
