"""Reading the JSON files of a run directory, with errors that name the file and what to do."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from llmcal import __version__
from llmcal.errors import InputError

__all__ = ["parse_file", "read_json_object"]

Parsed = TypeVar("Parsed")


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        InputError: If the file is missing, unreadable, not JSON or not an object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; is the run complete?") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: unreadable JSON ({error}); is the run complete?") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object; found {type(data).__name__}.")
    return data


def parse_file(path: Path, what: str, parse: Callable[[dict[str, Any]], Parsed]) -> Parsed:
    """``parse`` of the JSON object in ``path``; a structure ``parse`` cannot read names both versions.

    Args:
        path: The file.
        what: What the file should hold, for the message ("the results of an evaluation").
        parse: Builds the typed object from the JSON object; raises ``KeyError``, ``TypeError``,
            ``ValueError`` or ``AttributeError`` on a structure it does not know.

    Raises:
        InputError: If the file cannot be read or parsed.
    """
    data = read_json_object(path)
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        written_by = data.get("llmcal_version") or _manifest_version(path.parent)
        origin = f"llmcal {written_by} wrote it" if written_by else "nothing says which llmcal wrote it"
        raise InputError(
            f"{path}: not {what} as llmcal {__version__} writes them ({type(error).__name__}: {error}); "
            f"{origin}. Was it edited, or written by another version? Rerun that command with this llmcal."
        ) from None


def _manifest_version(directory: Path) -> str | None:
    """The llmcal version the run's manifest names, if it has a readable one."""
    try:
        version = json.loads((directory / "run.json").read_text(encoding="utf-8")).get("llmcal_version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None
