"""The item schemas every loader produces and every scorer consumes: multiple-choice and open-ended.

Multiple-choice (:class:`MCItem`), JSONL form, one item per line::

    {"id": "q1", "question": "...", "choices": ["...", "..."], "answer": 0,
     "subject": "anatomy", "context": "..."}

``answer`` indexes ``choices`` (``1``, ``1.0`` and ``"1"`` are all option 1). ``id``, if given, is a
non-empty string or an integer, unique in the file (without one an item is numbered by its line).
``subject`` and ``context`` (a passage shown before the question) are optional, and so is ``aliases``:
other names of the correct answer (``["USA", "United States of America"]``), for matching generated
answers. Any other field with a scalar value (``"popularity": 331e6``,
``"relation": "capital"``) is kept as the item's metadata, which results can be broken down by
(``llmcal eval --by popularity``); fields holding lists or objects are ignored.

Open-ended (:class:`OpenItem`): the model writes its own answer, which is right when it matches one of
``answers`` (gold aliases) after normalisation (:mod:`llmcal.tasks.answers`)::

    {"id": "q1", "question": "...", "answers": ["Paris", "Paree"], "subject": "capital", "context": "..."}

A record is open-ended when it has ``answers`` and no ``choices`` (:func:`record_kind`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from llmcal.jsonl import whole_number

__all__ = [
    "OPEN_SCHEMA_FIELDS",
    "SCHEMA_FIELDS",
    "AnyItem",
    "ItemFieldError",
    "ItemKind",
    "MCItem",
    "MetadataValue",
    "OpenItem",
    "item_from_record",
    "open_item_from_record",
    "record_kind",
]

MetadataValue = str | int | float | bool
"""The value of one metadata field: a JSON scalar (``null`` means the field is absent)."""

SCHEMA_FIELDS = ("id", "question", "choices", "answer", "subject", "context", "aliases")
"""The fields the schema itself defines; every other scalar field of a record is metadata."""

OPEN_SCHEMA_FIELDS = ("id", "question", "answers", "subject", "context")
"""The fields of the open-ended schema; every other scalar field of a record is metadata."""

ItemKind = Literal["mc", "open"]
"""``mc``: the model picks one of the item's options; ``open``: it writes its own answer."""


@dataclass(frozen=True)
class MCItem:
    """One multiple-choice item.

    Attributes:
        id: Stable identifier, unique within a task (resume and comparisons key on it).
        question: The question (or sentence to complete).
        choices: The answer options, at least two.
        answer: Index of the correct option in ``choices``.
        subject: Optional subject or category, used for per-subject breakdowns.
        context: Optional passage shown before the question (reading comprehension, e.g. BoolQ).
        aliases: Other names of the correct answer, besides ``choices[answer]``.
        metadata: The record's other scalar fields (e.g. ``popularity``), for breakdowns of the results.
    """

    id: str
    question: str
    choices: tuple[str, ...]
    answer: int
    subject: str | None = None
    context: str | None = None
    aliases: tuple[str, ...] = ()
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """The item as a JSON-serialisable dict: the schema's fields in order, then the metadata."""
        record: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "choices": list(self.choices),
            "answer": self.answer,
            "subject": self.subject,
            "context": self.context,
            "aliases": list(self.aliases) or None,
        }
        record.update(self.metadata)
        return {key: value for key, value in record.items() if value is not None}


class ItemFieldError(ValueError):
    """A record does not fit the schema; ``field`` names the offending field (``None``: the whole record)."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class OpenItem:
    """One open-ended item: a question the model answers in its own words.

    Attributes:
        id: Stable identifier, unique within a task.
        question: The question (or the start of a sentence the answer completes).
        answers: Every accepted answer (gold aliases), at least one; a generation matching any of them
            after normalisation is correct.
        subject: Optional subject or category, for per-subject breakdowns.
        context: Optional passage shown before the question.
        metadata: The record's other scalar fields (e.g. ``popularity``), for breakdowns of the results.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    subject: str | None = None
    context: str | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """The item as a JSON-serialisable dict: the schema's fields in order, then the metadata."""
        record: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "answers": list(self.answers),
            "subject": self.subject,
            "context": self.context,
        }
        record.update(self.metadata)
        return {key: value for key, value in record.items() if value is not None}


AnyItem = MCItem | OpenItem
"""An item of either kind."""


def record_kind(record: Any) -> ItemKind:
    """``open`` for a record with ``answers`` and no ``choices``, else ``mc`` (whose errors then apply)."""
    if isinstance(record, dict) and "answers" in record and "choices" not in record:
        return "open"
    return "mc"


def _text(record: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = record.get(field)
    if value is None:
        if required:
            raise ItemFieldError(field, "missing")
        return None
    if not isinstance(value, str):
        raise ItemFieldError(field, f"expected a string; found {type(value).__name__} {value!r}")
    return value


def _question(record: Any) -> str:
    if not isinstance(record, dict):
        raise ItemFieldError(None, f"expected a JSON object; found {type(record).__name__}")
    question = _text(record, "question", required=True)
    if not question or not question.strip():
        raise ItemFieldError("question", "is empty")
    return question


def _item_id(record: dict[str, Any], default_id: str) -> str:
    raw_id = record.get("id", default_id)
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
        raise ItemFieldError("id", f"expected a string or integer; found {raw_id!r}")
    if isinstance(raw_id, str) and not raw_id.strip():
        raise ItemFieldError(
            "id",
            f"is empty ({raw_id!r}); give every item a unique non-empty id, or leave the id out of every "
            "item to number them by line",
        )
    return str(raw_id)


def open_item_from_record(record: Any, *, default_id: str) -> OpenItem:
    """Validates one open-ended schema record and builds the item.

    Raises:
        ItemFieldError: Naming the field and what is wrong with it (an empty question, no answers, an
            answer that is not a non-empty string).
    """
    question = _question(record)
    answers = record.get("answers")
    if answers is None:
        raise ItemFieldError("answers", "missing (an open-ended item needs at least one accepted answer)")
    if isinstance(answers, str):
        raise ItemFieldError(
            "answers", f"expected a list of strings; found the string {answers!r} (write [...])"
        )
    if not isinstance(answers, list | tuple) or not answers:
        raise ItemFieldError("answers", f"expected a non-empty list of strings; found {answers!r}")
    if not all(isinstance(answer, str) and answer.strip() for answer in answers):
        raise ItemFieldError("answers", f"every answer must be a non-empty string; found {answers!r}")
    return OpenItem(
        id=_item_id(record, default_id),
        question=question,
        answers=tuple(dict.fromkeys(answers)),
        subject=_text(record, "subject", required=False),
        context=_text(record, "context", required=False),
        metadata=_metadata(record, OPEN_SCHEMA_FIELDS),
    )


def item_from_record(record: Any, *, default_id: str) -> MCItem:
    """Validates one schema record and builds the item.

    Args:
        record: A decoded JSON object (or CSV/Parquet row as a dict).
        default_id: The id to use when the record has none (e.g. the line number).

    Raises:
        ItemFieldError: Naming the field and what is wrong with it.
    """
    question = _question(record)
    choices = record.get("choices")
    if choices is None:
        raise ItemFieldError("choices", "missing")
    if not isinstance(choices, list | tuple) or len(choices) < 2:
        raise ItemFieldError("choices", f"expected a list of at least 2 strings; found {choices!r}")
    if not all(isinstance(choice, str) and choice.strip() for choice in choices):
        raise ItemFieldError("choices", f"every choice must be a non-empty string; found {choices!r}")
    answer = record.get("answer")
    if answer is None:
        raise ItemFieldError("answer", "missing")
    index = whole_number(answer)  # 1, 1.0 and "1" are all option 1; 1.5, NaN and true are not indices
    if index is None:
        raise ItemFieldError(
            "answer", f"expected an integer index into choices (0, 1, ...); found {answer!r}"
        )
    if not 0 <= index < len(choices):
        raise ItemFieldError("answer", f"expected an index in 0..{len(choices) - 1}; found {index}")
    aliases = record.get("aliases")
    if aliases is not None and (
        not isinstance(aliases, list | tuple)
        or not all(isinstance(alias, str) and alias.strip() for alias in aliases)
    ):
        raise ItemFieldError("aliases", f"expected a list of non-empty strings; found {aliases!r}")
    return MCItem(
        id=_item_id(record, default_id),
        question=question,
        choices=tuple(choices),
        answer=index,
        subject=_text(record, "subject", required=False),
        context=_text(record, "context", required=False),
        aliases=tuple(aliases or ()),
        metadata=_metadata(record, SCHEMA_FIELDS),
    )


def _metadata(record: dict[str, Any], schema_fields: tuple[str, ...]) -> dict[str, MetadataValue]:
    """The record's scalar fields outside the schema; a non-finite number is an error, not a stratum."""
    metadata: dict[str, MetadataValue] = {}
    for key, value in record.items():
        if key in schema_fields or not isinstance(key, str) or not isinstance(value, MetadataValue):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ItemFieldError(key, f"expected a finite number; found {value!r}")
        metadata[key] = value
    return metadata
