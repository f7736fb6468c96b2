"""The one multiple-choice item schema every loader produces and every scorer consumes.

JSONL form, one item per line::

    {"id": "q1", "question": "...", "choices": ["...", "..."], "answer": 0,
     "subject": "anatomy", "context": "..."}

``answer`` indexes ``choices``; ``subject`` and ``context`` (a passage shown before the question) are
optional.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ItemFieldError", "MCItem", "item_from_record"]


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
    """

    id: str
    question: str
    choices: tuple[str, ...]
    answer: int
    subject: str | None = None
    context: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The item as a JSON-serialisable dict in the schema's field order."""
        record = asdict(self)
        record["choices"] = list(self.choices)
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
    )
