"""A small named registry shared by every pluggable kind (metrics, calibrators, losses, methods, tasks).

An entry is either the object itself or a lazy reference, ``"package.module:attribute"``, imported on first
lookup. Lazy entries are how a registry is declared in a module that must stay light: the command line
lists the names (and reads their torch-free settings) without importing the torch code behind them.

Lookups that miss say what is available and suggest the closest names, so a typo on the command line
gets a useful answer instead of a ``KeyError``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from llmcal.errors import InputError

__all__ = ["LazyReference", "Registry", "load_reference"]

T = TypeVar("T")


@dataclass(frozen=True)
class LazyReference:
    """``"package.module:attribute"``: an object imported only when it is first needed.

    Examples:
        >>> LazyReference("math:pi").load()
        3.141592653589793
    """

    path: str

    def __post_init__(self) -> None:
        module, _, attribute = self.path.partition(":")
        if not module or not attribute:
            raise ValueError(f"a lazy reference is 'package.module:attribute'; got {self.path!r}")

    def load(self) -> Any:
        """Imports the module and returns the attribute.

        Raises:
            ImportError: If the module cannot be imported or lacks the attribute; the message names both.
        """
        return load_reference(self.path)


def load_reference(path: str) -> Any:
    """The object ``"package.module:attribute"`` names, importing its module.

    Raises:
        ImportError: If the module cannot be imported or has no such attribute.
    """
    module_name, _, attribute = path.partition(":")
    module = importlib.import_module(module_name)
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ImportError(f"{path!r}: module {module_name!r} has no attribute {attribute!r}") from None
    return value


class Registry(Generic[T]):
    """Maps names to objects of one kind, each given directly or as a lazy ``"module:attr"`` reference.

    Args:
        kind: What the entries are, used in error messages (e.g. ``"calibrator"``).

    Examples:
        >>> losses: Registry[int] = Registry("loss")
        >>> _ = losses.add("sft", 1)
        >>> losses.add_lazy("pi", "math:pi")
        >>> losses.names(), losses.get("pi")
        (['sft', 'pi'], 3.141592653589793)
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | LazyReference] = {}

    def add(self, name: str, entry: T) -> T:
        """Registers ``entry`` under ``name`` and returns it.

        Raises:
            ValueError: If ``name`` is already taken; registering twice is always a bug.
        """
        self._claim(name)
        self._entries[name] = entry
        return entry

    def add_lazy(self, name: str, path: str) -> None:
        """Registers the object at ``"package.module:attribute"`` under ``name``, imported on first lookup.

        Raises:
            ValueError: If ``name`` is already taken or ``path`` is not ``module:attribute``.
        """
        self._claim(name)
        self._entries[name] = LazyReference(path)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def get(self, name: str) -> T:
        """Returns the entry called ``name``, importing it first if it was registered lazily.

        Raises:
            InputError: If there is no such entry; the message lists the close matches and all names.
        """
        try:
            entry = self._entries[name]
        except KeyError:
            available = sorted(self._entries)
            message = f"Unknown {self.kind} {name!r}."
            suggestions = difflib.get_close_matches(name, available, n=3)
            if suggestions:
                message += f" Did you mean: {', '.join(suggestions)}?"
            message += f" Available: {', '.join(available)}."
            raise InputError(message) from None
        if isinstance(entry, LazyReference):
            entry = cast("T", entry.load())
            self._entries[name] = entry
        return entry

    def is_loaded(self, name: str) -> bool:
        """Whether ``name``'s entry has been imported (always, for entries added directly)."""
        return not isinstance(self._entries.get(name), LazyReference)

    def names(self) -> list[str]:
        """All registered names, in registration order (no entry is imported)."""
        return list(self._entries)

    def _claim(self, name: str) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
