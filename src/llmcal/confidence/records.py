"""Per-item results of an evaluation, raw enough that any confidence method can be recomputed later.

A multiple-choice item's record (:class:`ItemRecord`) keeps every option's token log-probabilities; an
open-ended item's (:class:`GenerationRecord`) keeps the generated answer with its tokens' log-probabilities,
the model's P(True)/P(False) of that answer and the text of its verbalised confidence. Correctness and
confidences are computed from them when results are summarised, so a change to answer matching or
parsing needs no new generations.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from llmcal.errors import InputError
from llmcal.scoring.requests import ContinuationScore, Generation
from llmcal.tasks.schema import MetadataValue

__all__ = ["AnyRecord", "GenerationRecord", "ItemRecord", "record_from_json"]


def _check_finite(task: str, item_id: str, values: list[float]) -> None:
    """NaN/inf scores would poison every metric silently; stop at the item that produced them."""
    if not all(math.isfinite(value) for value in values):
        bad = [value for value in values if not math.isfinite(value)][:3]
        raise InputError(
            f"{task}/{item_id}: the model gave non-finite log-probabilities ({bad}); "
            "with float16/bfloat16 try --dtype float32."
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

    def to_json(self) -> str:
        """One JSON line (no trailing newline)."""
        payload: dict[str, Any] = {
            "task": self.task,
            "id": self.id,
            "answer": self.answer,
            "n_options": self.n_options,
            "subject": self.subject,
            "options": None
            if self.options is None
            else [{"logprobs": list(o.token_logprobs), "greedy": o.is_greedy} for o in self.options],
            "letters": None if self.letters is None else list(self.letters),
        }
        if self.metadata:  # absent rather than empty: records of items without metadata stay as they were
            payload["metadata"] = dict(self.metadata)
        return json.dumps(payload, allow_nan=False)

    @classmethod
    def from_json(cls, line: str, *, where: str) -> ItemRecord:
        """Parses a line written by :meth:`to_json`.

        Raises:
            InputError: Naming ``where`` (file:line) if the line is not a valid record.
        """
        return _parsed(line, where, cls._from_dict)

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> ItemRecord:
        options = data["options"]
        return cls(
            task=str(data["task"]),
            id=str(data["id"]),
            answer=int(data["answer"]),
            n_options=int(data["n_options"]),
            subject=data.get("subject"),
            options=None if options is None else tuple(_option_from_json(option) for option in options),
            letters=None if data["letters"] is None else tuple(float(v) for v in data["letters"]),
            metadata=_metadata_from_json(data.get("metadata", {})),
        )


def _metadata_from_json(metadata: Any) -> dict[str, MetadataValue]:
    if not isinstance(metadata, dict) or not all(
        isinstance(value, MetadataValue) for value in metadata.values()
    ):
        raise ValueError(f"metadata must be an object of scalar values; found {metadata!r}")
    return {str(key): value for key, value in metadata.items()}


def _option_from_json(option: dict[str, Any]) -> ContinuationScore:
    return ContinuationScore(tuple(float(value) for value in option["logprobs"]), bool(option["greedy"]))


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
    """

    task: str
    id: str
    answers: tuple[str, ...]
    subject: str | None
    generation: Generation
    p_true: tuple[float, float] | None = None
    verbal: str | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_finite(self.task, self.id, [*self.generation.token_logprobs, *(self.p_true or ())])

    @property
    def key(self) -> tuple[str, str]:
        """``(task, id)``: unique within a run."""
        return (self.task, self.id)

    @property
    def gold_key(self) -> tuple[Any, ...]:
        """What identifies the item's gold answer: two runs of one item agree on it."""
        return self.answers

    def to_json(self) -> str:
        """One JSON line (no trailing newline)."""
        generation = self.generation
        payload: dict[str, Any] = {
            "task": self.task,
            "id": self.id,
            "answers": list(self.answers),
            "subject": self.subject,
            "generation": {
                "text": generation.text,
                "tokens": list(generation.token_ids),
                "logprobs": list(generation.token_logprobs),
                "n_answer_tokens": generation.n_answer_tokens,
                "stop": generation.stop,
            },
            "p_true": None if self.p_true is None else list(self.p_true),
            "verbal": self.verbal,
        }
        if self.metadata:
            payload["metadata"] = dict(self.metadata)
        return json.dumps(payload, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str, *, where: str) -> GenerationRecord:
        """Parses a line written by :meth:`to_json`.

        Raises:
            InputError: Naming ``where`` (file:line) if the line is not a valid record.
        """
        return _parsed(line, where, cls._from_dict)

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> GenerationRecord:
        generated = data["generation"]
        stop = generated["stop"]
        if stop not in ("stop", "eos", "length"):
            raise ValueError(f"unknown stop reason {stop!r}")
        p_true = data["p_true"]
        if p_true is not None and len(p_true) != 2:
            raise ValueError(f"p_true must hold 2 log-probabilities; found {p_true!r}")
        verbal = data["verbal"]
        if verbal is not None and not isinstance(verbal, str):
            raise ValueError(f"verbal must be a string; found {verbal!r}")
        return cls(
            task=str(data["task"]),
            id=str(data["id"]),
            answers=tuple(str(answer) for answer in data["answers"]),
            subject=data.get("subject"),
            generation=Generation(
                text=str(generated["text"]),
                token_ids=tuple(int(token) for token in generated["tokens"]),
                token_logprobs=tuple(float(value) for value in generated["logprobs"]),
                n_answer_tokens=int(generated["n_answer_tokens"]),
                stop=stop,
            ),
            p_true=None if p_true is None else (float(p_true[0]), float(p_true[1])),
            verbal=verbal,
            metadata=_metadata_from_json(data.get("metadata", {})),
        )


AnyRecord = ItemRecord | GenerationRecord
"""The record of an item of either kind."""


def record_from_json(line: str, *, where: str) -> AnyRecord:
    """Parses a records line of either kind (an open-ended item's record has a ``generation``).

    Raises:
        InputError: Naming ``where`` (file:line) if the line is not a valid record.
    """
    return _parsed(
        line,
        where,
        lambda data: (GenerationRecord if "generation" in data else ItemRecord)._from_dict(data),
    )


Parsed = TypeVar("Parsed")


def _parsed(line: str, where: str, build: Callable[[dict[str, Any]], Parsed]) -> Parsed:
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object; found {type(data).__name__}")
        return build(data)
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{where}: not a valid llmcal record ({type(error).__name__}: {error}).") from None
