"""JSON text and input files (JSON Lines, CSV): the one JSON codec below :mod:`llmcal.runs`.

Run directories are written and read by :mod:`llmcal.runs`. The few files lower layers own (a world's
files, the lock holder's record, the GGUF conversion record, ``llmcal probe``'s labels) and the JSON in
input files go through the functions here, so every such file is written one strict way (no NaN or
infinity, which JSON has no words for) and every read error names its file: :func:`json_text`,
:func:`json_lines`, :func:`json_round_trip`, :func:`parse_json` and :func:`read_json_file`.

The readers of input files every loader uses name ``file:line`` in their errors.

Both readers decode UTF-8 with ``utf-8-sig`` semantics: a byte-order mark at the very start of the file is
accepted and dropped; one anywhere else is text (and so, in JSON, an error). CSV is parsed by the
:mod:`csv` module over the whole text, so a quoted cell may hold line breaks, and U+2028, U+0085 or a form
feed inside a cell is text, never a row break; a row's line is the physical line it starts on.

The number rules every reader shares live here too: :func:`whole_number` (an index or a label, where
``1.0`` means ``1``) and :func:`typed_column` (a CSV column of numbers is numbers).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcal.errors import InputError

__all__ = [
    "CsvTable",
    "empty_file_problem",
    "json_lines",
    "json_round_trip",
    "json_text",
    "parse_json",
    "read_csv",
    "read_json_file",
    "read_jsonl",
    "typed_column",
    "whole_number",
]

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
# An integer written with a leading zero (007, -01) is a code, not a number: it stays text.
_CODE = re.compile(r"[+-]?0[0-9]+")


def json_text(
    value: Any, *, indent: int | None = None, sort_keys: bool = False, ensure_ascii: bool = True
) -> str:
    """``value`` as JSON text (no trailing newline), as :func:`json.dumps` writes it with these options.

    Raises:
        ValueError: If ``value`` holds a NaN or an infinity: strict JSON has no words for them, and a file
            holding one is unreadable to most JSON readers.
        TypeError: If ``value`` holds something JSON cannot hold (a set, an object).
    """
    return json.dumps(value, allow_nan=False, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii)


def json_lines(values: Iterable[Any]) -> str:
    """JSON Lines text: each value as :func:`json_text` writes it, on a line of its own ending in a newline.

    Raises:
        ValueError: If a value holds a NaN or an infinity.
        TypeError: If a value holds something JSON cannot hold.
    """
    return "".join(json_text(value) + "\n" for value in values)


def json_round_trip(value: Any) -> Any:
    """``value`` as it reads back from its JSON text: tuples become lists, keys strings.

    A record built in memory and compared with one read from a file compares equal only in this form.

    Raises:
        ValueError: If ``value`` holds a NaN or an infinity.
        TypeError: If ``value`` holds something JSON cannot hold.
    """
    return json.loads(json_text(value))


def parse_json(text: str, *, where: str) -> Any:
    """The value ``text`` holds as JSON.

    Args:
        text: The JSON text.
        where: What the text is, for the error (a file, ``file:line``, a field of a row).

    Raises:
        InputError: Naming ``where``, if ``text`` is not JSON or nests deeper than Python can read.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{where}: not valid JSON ({error.msg}, line {error.lineno} column {error.colno})."
        ) from None
    except (RecursionError, ValueError) as error:  # nesting depth, int digits beyond Python's limit
        raise InputError(f"{where}: JSON this reader cannot hold ({error}).") from None


def read_json_file(path: str | Path) -> Any:
    """The value the JSON file ``path`` holds (UTF-8).

    Raises:
        InputError: Naming the file, if it is missing, unreadable, not UTF-8 or not JSON.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{source}: no such file.") from None
    except OSError as error:
        raise InputError(f"{source}: unreadable ({error.strerror or error}).") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{source}: not valid UTF-8 ({error.reason} at byte {error.start}).") from None
    return parse_json(text, where=str(source))


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yields ``(line_number, value)`` for every non-blank line of a JSON Lines file.

    A UTF-8 byte-order mark at the start of the first line is dropped.

    Raises:
        InputError: ``file:line`` and the reason, for bytes that are not UTF-8 or a line that is not JSON
            (a last line without its newline is reported as cut off mid-write).
    """
    source = Path(path)
    with source.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            data = raw[len(codecs.BOM_UTF8) :] if line == 1 and raw.startswith(codecs.BOM_UTF8) else raw
            try:
                text = data.decode("utf-8")
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


def empty_file_problem(path: Path) -> str:
    """What a file without records holds: ``the file is empty`` or ``the file holds only blank lines``."""
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    return "the file is empty" if not data else "the file holds only blank lines"


@dataclass(frozen=True)
class CsvTable:
    """A CSV file read whole: its named columns and its rows.

    Attributes:
        path: The file.
        columns: The header's column names, in order; columns with an empty name (e.g. a pandas index)
            are left out.
        header_line: The line the header is on.
        rows: ``(line, cells)`` per row, ``line`` the physical line the row starts on and ``cells`` every
            column's text (``""`` for an empty or missing cell). Rows of only empty cells are skipped,
            like blank lines.
    """

    path: Path
    columns: tuple[str, ...]
    header_line: int
    rows: list[tuple[int, dict[str, str]]]


def read_csv(path: str | Path, *, record: str, example: str) -> CsvTable:
    """Reads a CSV file with a header line, refusing anything it cannot read exactly.

    Args:
        path: The file.
        record: What one row is, for the message about a file without rows (``item``, ``prediction``).
        example: A header line to show in that message.

    Raises:
        InputError: Naming ``file:line`` for bytes that are not UTF-8, a quoted cell never closed (or
            other broken quoting), a cell over the :mod:`csv` size limit, a column named twice, a row with
            more (non-empty) cells than the header has columns; and the file, for a file without rows
            (``no {record}s found: ...``).
    """
    source = Path(path)
    data = source.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        offset = error.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        line = len(re.split(rb"\r\n|\r|\n", data[:offset]))  # the csv module's line breaks
        raise InputError(f"{source}:{line}: not valid UTF-8 ({error.reason} at byte {offset}).") from None
    header: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, dict[str, str]]] = []
    for line, cells in _csv_lines(source, text):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a row of empty cells
        if header is None:
            header, header_line = _header(source, line, cells), line
            continue
        named = len(header)
        if any(cell.strip() for cell in cells[named:]):
            raise InputError(
                f"{source}:{line}: has {len(cells)} cells but the header (line {header_line}) names "
                f'{named} columns. Quote a cell that holds a comma ("1,000"), or add the column to the '
                "header."
            )
        row = {name: cells[index] if index < len(cells) else "" for index, name in enumerate(header)}
        rows.append((line, {name: value for name, value in row.items() if name}))
    if header is None:
        found = "the file holds only empty rows" if text.strip() else empty_file_problem(source)
        raise InputError(
            f"{source}: no {record}s found: {found}; expected a header line naming the columns "
            f"({example}) and one {record} per line below it."
        )
    if not rows:
        raise InputError(
            f"{source}: no {record}s found: the file has a header (line {header_line}) and no rows; "
            f"expected one {record} per line below the header."
        )
    return CsvTable(source, tuple(name for name in header if name), header_line, rows)


def _csv_lines(source: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """``(line the row starts on, cells)`` for every row, blank ones included (as ``[]``)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                problem = (
                    'a quoted cell starts on this line and is never closed; close it with ", and write a '
                    'quote inside a quoted cell as two ("")'
                )
            elif "field larger than field limit" in str(error):
                limit = csv.field_size_limit()
                problem = f"a cell longer than {limit} characters, the most CSV is read with; use JSONL"
            else:
                problem = (
                    f"not valid CSV ({error}); a cell holding a comma, a quote or a line break must be "
                    'quoted, with every quote inside it written as two ("")'
                )
            raise InputError(f"{source}:{start}: {problem}.") from None
        yield start, cells


def _header(source: Path, line: int, cells: list[str]) -> list[str]:
    names = [cell.strip() for cell in cells]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise InputError(
                f"{source}:{line}: column {name!r} appears twice in the header; give every column its "
                "own name."
            )
        seen.add(name)
    return names


def whole_number(value: Any) -> int | None:
    """``value`` as an integer if it is a whole number, else ``None``.

    Integers, integral finite floats (``1.0``) and text holding either (``"1"``, ``" 1.0 "``) are whole
    numbers; ``True``/``False``, ``1.5``, NaN, infinities and anything else are not.

    Examples:
        >>> [whole_number(value) for value in (1.0, "2", " 3.0 ", 1.5, True, "nan")]
        [1, 2, 3, None, None, None]
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            try:
                return int(text)
            except ValueError:  # more digits than Python converts
                return None
        if not _NUMBER.fullmatch(text):
            return None
        value = float(text)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def typed_column(path: Path, name: str, cells: Sequence[tuple[int, str]]) -> list[str | int | float]:
    """The non-empty cells of one CSV column, typed as a whole.

    A column whose every cell is a number is numbers: ``int`` if every cell is an integer, else
    ``float``. Any other column stays text, every cell as written: a column mixing numbers and text
    (``capital``, ``7``), and one holding an integer with a leading zero (``007``, a code). A NaN or an
    infinity in a column of numbers is refused, so one such cell cannot turn the column into text.

    Args:
        path: The file, for error messages.
        name: The column.
        cells: ``(line, text)`` of each non-empty cell, in file order.

    Raises:
        InputError: Naming ``file:line`` and the column, for a NaN or infinite cell in a column of numbers.
    """
    texts = [text.strip() for _, text in cells]
    if not texts or not all(_is_number(text) for text in texts):
        return [text for _, text in cells]
    if all(_INTEGER.fullmatch(text) for text in texts):
        try:
            return [int(text) for text in texts]
        except ValueError:  # more digits than Python converts: the cells are text
            return [text for _, text in cells]
    numbers: list[str | int | float] = []
    for (line, text), stripped in zip(cells, texts, strict=True):
        number = float(stripped)
        if not math.isfinite(number):  # NaN, inf, or a number too large for a float (1e999)
            raise InputError(
                f"{path}:{line}: field {name!r}: expected a finite number; found {text!r} in a column of "
                "numbers. Leave this cell empty if the value is unknown."
            )
        numbers.append(number)
    return numbers


def _is_number(text: str) -> bool:
    if _CODE.fullmatch(text):
        return False
    return bool(_NUMBER.fullmatch(text) or _NON_FINITE.fullmatch(text))
