"""Reading JSON Lines input files with errors that name ``file:line``: the one reader every loader uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmcal.errors import InputError

__all__ = ["read_jsonl"]


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yields ``(line_number, value)`` for every non-blank line of a JSON Lines file.

    Raises:
        InputError: ``file:line`` and the reason, for bytes that are not UTF-8 or a line that is not JSON
            (a last line without its newline is reported as cut off mid-write).
    """
    source = Path(path)
    with source.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"{source}:{line}: not valid UTF-8 ({error.reason} at byte {error.start})."
                ) from None
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                problem = "truncated JSON" if not raw.endswith(b"\n") else "not valid JSON"
                raise InputError(f"{source}:{line}: {problem} ({error.msg}, column {error.colno}).") from None
            except (RecursionError, ValueError) as error:  # nesting depth, int digits beyond Python's limit
                raise InputError(f"{source}:{line}: JSON this reader cannot hold ({error}).") from None
            yield line, value
