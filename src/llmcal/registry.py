"""A small named registry shared by every pluggable kind (metrics, calibrators, later losses and backends).

Lookups that miss say what is available and suggest the closest names, so a typo on the command line
gets a useful answer instead of a ``KeyError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from llmcal.errors import InputError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects of one kind.

    Args:
        kind: What the entries are, used in error messages (e.g. ``"calibrator"``).

    Examples:
        >>> losses: Registry[int] = Registry("loss")
        >>> _ = losses.add("sft", 1)
        >>> losses.get("sft")
        1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Registers ``entry`` under ``name`` and returns it.

        Raises:
            ValueError: If ``name`` is already taken; registering twice is always a bug.
        """
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def get(self, name: str) -> T:
        """Returns the entry called ``name``.

        Raises:
            InputError: If there is no such entry; the message lists the close matches and all names.
        """
        try:
            return self._entries[name]
        except KeyError:
            available = sorted(self._entries)
            message = f"Unknown {self.kind} {name!r}."
            suggestions = difflib.get_close_matches(name, available, n=3)
            if suggestions:
                message += f" Did you mean: {', '.join(suggestions)}?"
            message += f" Available: {', '.join(available)}."
            raise InputError(message) from None

    def names(self) -> list[str]:
        """All registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
