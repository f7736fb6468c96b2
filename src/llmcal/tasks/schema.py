"""The one multiple-choice item schema every loader produces and every scorer consumes.

JSONL form, one item per line::

    {"id": "q1", "question": "...", "choices": ["...", "..."], "answer": 0,
     "subject": "anatomy", "context": "..."}

``answer`` indexes ``choices``; ``subject`` and ``context`` (a passage shown before the question) are
optional, and so is ``aliases``: other names of the correct answer (``["USA", "United States of
America"]``), for matching generated answers. Any other field with a scalar value (``"popularity": 331e6``,
``"relation": "capital"``) is kept as the item's metadata, which results can be broken down by
(``llmcal eval --by popularity``); fields holding lists or objects are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCHEMA_FIELDS", "ItemFieldError", "MCItem", "MetadataValue", "item_from_record"]

MetadataValue = str | int | float | bool
"""The value of one metadata field: a JSON scalar (``null`` means the field is absent)."""

SCHEMA_FIELDS = ("id", "question", "choices", "answer", "subject", "context", "aliases")
"""The fields the schema itself defines; every other scalar field of a record is metadata."""


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


def _text(record: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = record.get(field)
    if value is None:
        if required:
            raise ItemFieldError(field, "missing")
        return None
    if not isinstance(value, str):
        raise ItemFieldError(field, f"expected a string; found {type(value).__name__} {value!r}")
    return value


def item_from_record(record: Any, *, default_id: str) -> MCItem:
    """Validates one schema record and builds the item.

    Args:
        record: A decoded JSON object (or CSV/Parquet row as a dict).
        default_id: The id to use when the record has none (e.g. the line number).

    Raises:
        ItemFieldError: Naming the field and what is wrong with it.
    """
    if not isinstance(record, dict):
        raise ItemFieldError(None, f"expected a JSON object; found {type(record).__name__}")
    question = _text(record, "question", required=True)
    if not question or not question.strip():
        raise ItemFieldError("question", "is empty")
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
    if isinstance(answer, str) and answer.strip().isdigit():
        answer = int(answer)
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise ItemFieldError("answer", f"expected an integer index into choices; found {answer!r}")
    if not 0 <= answer < len(choices):
        raise ItemFieldError("answer", f"expected an index in 0..{len(choices) - 1}; found {answer}")
    aliases = record.get("aliases")
    if aliases is not None and (
        not isinstance(aliases, list | tuple)
        or not all(isinstance(alias, str) and alias.strip() for alias in aliases)
    ):
        raise ItemFieldError("aliases", f"expected a list of non-empty strings; found {aliases!r}")
    raw_id = record.get("id", default_id)
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
        raise ItemFieldError("id", f"expected a string or integer; found {raw_id!r}")
    return MCItem(
        id=str(raw_id),
        question=question,
        choices=tuple(choices),
        answer=answer,
        subject=_text(record, "subject", required=False),
        context=_text(record, "context", required=False),
        aliases=tuple(aliases or ()),
        metadata=_metadata(record),
    )


def _metadata(record: dict[str, Any]) -> dict[str, MetadataValue]:
    """The record's scalar fields outside the schema; a non-finite number is an error, not a stratum."""
    metadata: dict[str, MetadataValue] = {}
    for key, value in record.items():
        if key in SCHEMA_FIELDS or not isinstance(key, str) or not isinstance(value, MetadataValue):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ItemFieldError(key, f"expected a finite number; found {value!r}")
        metadata[key] = value
    return metadata
