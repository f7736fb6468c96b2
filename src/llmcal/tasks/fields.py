"""The fields results can be broken down by: an item's ``subject`` or any of its metadata fields.

Items and the per-item records of an evaluation both carry ``subject`` and ``metadata``, so one lookup
serves the check before scoring (on items) and the breakdown after it (on records).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Protocol

from llmcal.errors import InputError
from llmcal.tasks.schema import MetadataValue

__all__ = ["SUBJECT_FIELD", "HasFields", "field_value", "field_values", "item_fields"]

SUBJECT_FIELD = "subject"
"""The schema field a breakdown can use besides the metadata."""


class HasFields(Protocol):
    """Anything with an id, an optional subject and metadata: an item or an item's record."""

    @property
    def id(self) -> str:
        """Unique within the task."""
        ...

    @property
    def subject(self) -> str | None:
        """The subject, if any."""
        ...

    @property
    def metadata(self) -> Mapping[str, MetadataValue]:
        """The other scalar fields."""
        ...


def field_value(item: HasFields, name: str) -> MetadataValue | None:
    """``item``'s value of field ``name`` (``subject`` or a metadata field), ``None`` if it has none."""
    return item.subject if name == SUBJECT_FIELD else item.metadata.get(name)


def item_fields(items: Sequence[HasFields]) -> dict[str, int]:
    """Every field some of ``items`` have, sorted by name, with how many items have it."""
    counts: dict[str, int] = {}
    for item in items:
        names = [*item.metadata, *([SUBJECT_FIELD] if item.subject is not None else [])]
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def field_values(items: Sequence[HasFields], name: str, *, task: str) -> list[MetadataValue]:
    """Each item's value of field ``name``, in item order.

    Raises:
        InputError: If some items lack the field; the message names the field, how many items lack it
            (with an example id), the fields the items do have and the closest names.
    """
    values = [field_value(item, name) for item in items]
    missing = [item.id for item, value in zip(items, values, strict=True) if value is None]
    if not missing:
        return [value for value in values if value is not None]
    available = item_fields(items)
    listed = ", ".join(
        field if count == len(items) else f"{field} ({count} of {len(items)})"
        for field, count in available.items()
    )
    suggestions = difflib.get_close_matches(name, [field for field in available if field != name], n=3)
    hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
    raise InputError(
        f"task {task!r}: {len(missing)} of {len(items)} items have no field {name!r} (item {missing[0]!r} "
        f"is one).{hint} The items have: {listed or 'no subject and no metadata fields'}."
    )
