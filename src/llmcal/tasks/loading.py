"""Load items from JSONL, CSV or Parquet files, or from Hugging Face ``datasets``.

Files must already be in an item schema (:mod:`llmcal.tasks.schema`): multiple-choice (:func:`load_items`)
or open-ended (:func:`load_open_items`); :func:`load_any_items` tells them apart by the first record.
Datasets in other schemas go through a converter (a built-in task spec, a :class:`FieldMap` or an
:class:`OpenFieldMap`). Every problem is an
:class:`~llmcal.errors.InputError` naming ``file:line`` (or dataset and row) and the field, and a file is
read completely before anything is returned; a file without items (empty, blank lines only, a CSV header
without rows) is an error too.

CSV files are read by :func:`llmcal.jsonl.read_csv`: a quoted cell may hold line breaks, and ``file:line``
is the line a row starts on. An empty cell is an absent field, except an empty ``id`` (refused). A metadata
column (any column outside the schemas) whose every non-empty cell is a number holds numbers, ``int`` if
all are integers, else ``float``, as the same field in JSONL would, so ``--by`` gives quantile strata; a
metadata column mixing numbers and text, or holding codes with a leading zero (``007``), stays text, cell
for cell; a NaN in a column of numbers is refused. The schema's own columns (``id``, ``question``,
``subject``, ...) are always text, and a converter gets every cell as text.

Why it is long: files of three formats and hub datasets go through one record-to-item path with one error
convention (``file:line``, the field, the fix); split by source, that path would be shared across modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from llmcal.errors import InputError
from llmcal.jsonl import empty_file_problem, parse_json, read_csv, read_jsonl, typed_column, whole_number
from llmcal.tasks.schema import (
    OPEN_SCHEMA_FIELDS,
    SCHEMA_FIELDS,
    AnyItem,
    ItemFieldError,
    ItemKind,
    MCItem,
    OpenItem,
    item_from_record,
    open_item_from_record,
    record_kind,
)

__all__ = [
    "FieldMap",
    "OpenFieldMap",
    "RowConverter",
    "item_kind",
    "items_from_rows",
    "load_any_items",
    "load_hf_rows",
    "load_items",
    "load_open_items",
    "open_items_from_rows",
]

RowConverter = Callable[[dict[str, Any], int], dict[str, Any] | None]
"""Maps one dataset row (and its index) to a schema record, or ``None`` to skip the row."""

Item = TypeVar("Item", MCItem, OpenItem)


def _where(source: str, line: int | None, field: str | None) -> str:
    location = source if line is None else f"{source}:{line}"
    return location + (f": field {field!r}" if field else "")


def items_from_rows(
    rows: Iterable[tuple[int, Any]], source: str, *, convert: RowConverter | None = None
) -> list[MCItem]:
    """Validates ``(line, row)`` pairs into multiple-choice items; ids must be unique.

    Args:
        rows: Rows with the line (or row) number to report in errors.
        source: File or dataset name for error messages.
        convert: Optional converter from another schema; rows it maps to ``None`` are skipped.

    Raises:
        InputError: On the first invalid row, naming ``source:line`` and the field.
    """
    return _validated(rows, source, convert, item_from_record)


def open_items_from_rows(
    rows: Iterable[tuple[int, Any]], source: str, *, convert: RowConverter | None = None
) -> list[OpenItem]:
    """Validates ``(line, row)`` pairs into open-ended items; ids must be unique.

    Raises:
        InputError: On the first invalid row, naming ``source:line`` and the field.
    """
    return _validated(rows, source, convert, open_item_from_record)


def _validated(
    rows: Iterable[tuple[int, Any]],
    source: str,
    convert: RowConverter | None,
    build: Callable[..., Item],
    hint: str = "",
) -> list[Item]:
    items: list[Item] = []
    seen: dict[str, int] = {}
    n_rows = 0
    for line, row in rows:
        n_rows += 1
        try:
            record = convert(row, line) if convert is not None else row
            if record is None:
                continue
            item = build(record, default_id=f"{line}")
        except ItemFieldError as error:
            raise InputError(f"{_where(source, line, error.field)}: {error.problem}{hint}.") from None
        if item.id in seen:
            raise InputError(
                f"{_where(source, line, 'id')}: duplicate id {item.id!r} (first on line {seen[item.id]})."
            )
        seen[item.id] = line
        items.append(item)
    if not items:
        found = f"the converter skipped all {n_rows} rows" if n_rows else "there are no rows"
        raise InputError(f"{source}: no items found: {found}; expected at least one item.")
    return items


_TEXT_COLUMNS = frozenset(SCHEMA_FIELDS) | frozenset(OPEN_SCHEMA_FIELDS)
_CSV_EXAMPLE = "id,question,choice_0,choice_1,answer"


def _csv_rows(path: Path, *, typed: bool = True) -> Iterator[tuple[int, Any]]:
    """CSV rows: ``choices`` is a JSON list, or the columns ``choice_0``, ``choice_1``, ... are used.

    With ``typed``, a metadata column (one outside both schemas) of numbers is numbers, as
    :func:`~llmcal.jsonl.typed_column` decides for the column as a whole; the schema's own columns (an id
    ``001``, a subject ``7``) and every column a converter reads (``typed=False``) stay text. An empty cell
    is an absent field, except in the ``id`` column, where it is an empty id (refused).
    """
    table = read_csv(path, record="item", example=_CSV_EXAMPLE)
    choice_columns = sorted(
        (name for name in table.columns if name.startswith("choice_") and name[7:].isdigit()),
        key=lambda name: int(name[7:]),
    )
    typed_cells: dict[str, dict[int, Any]] = {}
    if typed:
        for name in table.columns:
            if name in _TEXT_COLUMNS or name in choice_columns:
                continue
            cells = [(line, row[name]) for line, row in table.rows if row[name] != ""]
            typed_cells[name] = {
                line: value for (line, _), value in zip(cells, typed_column(path, name, cells), strict=True)
            }
    for line, row in table.rows:
        record: dict[str, Any] = {key: value for key, value in row.items() if value != ""}
        if "id" in row and typed:
            record["id"] = row["id"]  # an empty id cell is an error, not an item numbered by its line
        for name, values in typed_cells.items():
            if line in values:
                record[name] = values[line]
        if choice_columns:
            record["choices"] = [row[name] for name in choice_columns if row[name]]
            for name in choice_columns:
                record.pop(name, None)
        for name in ("choices", "aliases", "answers"):  # list fields are JSON in a CSV cell
            if not choice_columns or name != "choices":
                _decode_json_list(record, name, f"{path}:{line}")
        yield line, record


def _decode_json_list(record: dict[str, Any], name: str, where: str) -> None:
    if name not in record:
        return
    try:
        record[name] = parse_json(record[name], where=where)
    except InputError:
        raise InputError(f"{where}: field {name!r}: expected a JSON list of strings.") from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        import pyarrow.parquet as parquet
    except ImportError:  # pragma: no cover - pyarrow comes with the [hf] extra
        raise InputError(f"{path}: reading Parquet needs pyarrow (pip install 'llmcal[hf]').") from None
    try:
        table = parquet.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({error}).") from None
    for index, row in enumerate(table.to_pylist()):
        yield index + 1, row


def _file_rows(path: str | Path, *, typed: bool = True) -> tuple[Path, list[tuple[int, Any]]]:
    """Every row of an item file; a file without rows is an error saying what the file holds."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file.")
    suffix = file.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = list(read_jsonl(file))
        if not rows:
            raise InputError(
                f"{file}: no items found: {empty_file_problem(file)}; expected one JSON object per line, "
                'like {"id": "q1", "question": "...", "choices": ["...", "..."], "answer": 0}.'
            )
        return file, rows
    if suffix == ".csv":
        return file, list(_csv_rows(file, typed=typed))  # read_csv refuses a file without rows
    if suffix == ".parquet":
        rows = list(_parquet_rows(file))
        if not rows:
            raise InputError(f"{file}: no items found: the file has no rows; expected one row per item.")
        return file, rows
    raise InputError(f"{file}: unsupported file type {suffix!r}; expected .jsonl, .csv or .parquet.")


def load_items(path: str | Path, *, convert: RowConverter | None = None) -> list[MCItem]:
    """Reads every multiple-choice item of a ``.jsonl``, ``.csv`` or ``.parquet`` file.

    Args:
        path: The file. CSV ``choices`` is a JSON list or ``choice_0..choice_K`` columns.
        convert: Optional converter for files in another schema (e.g. a local copy of an HF dataset).

    Raises:
        InputError: If the file is missing, has an unsupported suffix, or any row is invalid.
    """
    file, rows = _file_rows(path, typed=convert is None)
    return items_from_rows(rows, str(file), convert=convert)


def load_open_items(path: str | Path, *, convert: RowConverter | None = None) -> list[OpenItem]:
    """Reads every open-ended item of a ``.jsonl``, ``.csv`` or ``.parquet`` file.

    Args:
        path: The file. CSV ``answers`` is a JSON list.
        convert: Optional converter for files in another schema.

    Raises:
        InputError: If the file is missing, has an unsupported suffix, or any row is invalid.
    """
    file, rows = _file_rows(path, typed=convert is None)
    return open_items_from_rows(rows, str(file), convert=convert)


def load_any_items(path: str | Path) -> list[MCItem] | list[OpenItem]:
    """Reads a file of either schema; its first record decides which (see :func:`record_kind`).

    Raises:
        InputError: As :func:`load_items`; a record of the other kind than the first names its line.
    """
    file, rows = _file_rows(path)  # never empty
    kind: ItemKind = record_kind(rows[0][1])
    # An error names the line that set the kind: in every open-ended file, and in a multiple-choice one
    # that holds open-ended records (plain multiple-choice files keep their usual messages).
    if kind == "open":
        hint = f" (line {rows[0][0]} made this an open-ended file: 'question' and 'answers' on every line)"
        return _validated(rows, str(file), None, open_item_from_record, hint)
    mixed = any(record_kind(row) == "open" for _, row in rows)
    hint = f" (line {rows[0][0]} made this a multiple-choice file: 'choices' and 'answer' on every line)"
    return _validated(rows, str(file), None, item_from_record, hint if mixed else "")


def item_kind(items: Sequence[AnyItem]) -> ItemKind:
    """``open`` if the items are open-ended, ``mc`` if multiple-choice (they are all of one kind)."""
    return "open" if items and isinstance(items[0], OpenItem) else "mc"


@dataclass(frozen=True)
class FieldMap:
    """Maps a dataset's own field names onto the item schema (for datasets without a built-in spec).

    Attributes:
        question: Field holding the question text.
        choices: Field holding the list of options, or several fields each holding one option.
        answer: Field holding the answer: an index (``2`` or ``2.0``), a letter (``"B"``), a 1-based
            digit string (``answer_base=1``), or the text of the correct option.
        id: Optional id field (default: the row number).
        subject: Optional subject field.
        context: Optional passage field.
        answer_base: 0 if integer answers are 0-based, 1 if 1-based.
    """

    question: str
    choices: str | tuple[str, ...]
    answer: str
    id: str | None = None
    subject: str | None = None
    context: str | None = None
    answer_base: int = 0

    def __call__(self, row: dict[str, Any], index: int) -> dict[str, Any]:
        """Converts one row (a :data:`RowConverter`)."""
        options = list(self.choices) if isinstance(self.choices, tuple) else [self.choices]
        record = _mapped_fields(row, index, [self.answer, *options], self)
        choices = [row[name] for name in options] if isinstance(self.choices, tuple) else row[self.choices]
        record |= {"choices": choices, "answer": self._answer_index(row[self.answer], choices)}
        return record

    def _answer_index(self, answer: Any, choices: Any) -> Any:
        if isinstance(answer, bool):
            return int(answer)
        number = whole_number(answer) if isinstance(answer, int | float) else None  # 2 or 2.0, not 2.5
        if number is not None:
            return number - self.answer_base
        if isinstance(answer, str):
            text = answer.strip()
            if text.isascii() and text.isdigit():
                return int(text) - self.answer_base
            letter = ord(text) - ord("A") if len(text) == 1 and text.isalpha() and text.isupper() else -1
            if isinstance(choices, list) and 0 <= letter < len(choices):
                return letter
            if isinstance(choices, list) and text in choices:
                return choices.index(text)
            number = whole_number(text)  # "2.0", once it is neither an option's text nor a letter
            if number is not None and number >= 0:
                return number - self.answer_base
        count = len(choices) if isinstance(choices, list) else "?"
        raise ItemFieldError(self.answer, f"cannot map answer {answer!r} to one of the {count} options")


@dataclass(frozen=True)
class OpenFieldMap:
    """Maps a dataset's own field names onto the open-ended item schema.

    Attributes:
        question: Field holding the question text.
        answers: Field holding the accepted answers: a string, a list of strings, or an object with them
            under ``aliases`` (TriviaQA), ``text`` (SQuAD) or ``value``.
        id: Optional id field (default: the row number).
        subject: Optional subject field.
        context: Optional passage field.
    """

    question: str
    answers: str
    id: str | None = None
    subject: str | None = None
    context: str | None = None

    def __call__(self, row: dict[str, Any], index: int) -> dict[str, Any]:
        """Converts one row (a :data:`RowConverter`)."""
        record = _mapped_fields(row, index, [self.answers], self)
        record["answers"] = answer_list(row[self.answers], self.answers)
        return record


class _SharedFields(Protocol):
    """The fields both field maps name: the question, and the optional id, subject and passage."""

    @property
    def question(self) -> str: ...

    @property
    def id(self) -> str | None: ...

    @property
    def subject(self) -> str | None: ...

    @property
    def context(self) -> str | None: ...


def _mapped_fields(
    row: dict[str, Any], index: int, required: list[str], names: _SharedFields
) -> dict[str, Any]:
    """The record's id, question and optional subject and passage, once the fields it needs are present.

    Raises:
        ItemFieldError: Naming the first of the question, ``required`` and the id field that is missing.
    """
    for name in [names.question, *required, *([names.id] if names.id else [])]:
        if name not in row:
            raise ItemFieldError(name, f"missing (row has {sorted(row)})")
    record: dict[str, Any] = {
        "id": str(row[names.id]) if names.id else str(index),
        "question": row[names.question],
    }
    if names.subject:
        record["subject"] = row.get(names.subject)
    if names.context:
        record["context"] = row.get(names.context)
    return record


def answer_list(value: Any, field: str) -> list[str]:
    """Accepted answers from a dataset field: a string, a list, or an object holding either.

    Objects are read as the hub's QA datasets store answers: TriviaQA's ``{"value", "aliases", ...}``
    (the value first, then its aliases), SQuAD's ``{"text": [...], "answer_start": [...]}``.

    Raises:
        ItemFieldError: Naming ``field`` if no list of strings can be read from ``value``.
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        found: list[Any] = []
        for key in ("value", "aliases", "text"):
            held = value.get(key)
            found += [held] if isinstance(held, str) else list(held or [])
        value = found
    if isinstance(value, list | tuple) and value and all(isinstance(answer, str) for answer in value):
        return list(dict.fromkeys(answer for answer in value if answer.strip()))
    raise ItemFieldError(
        field, f"expected an answer string, a list of them or an object holding them; found {value!r}"
    )


def load_hf_rows(
    path: str, config: str | None, split: str, *, revision: str | None = None
) -> list[dict[str, Any]]:
    """Rows of a Hugging Face dataset split, via ``datasets.load_dataset``.

    ``path`` is a hub id (``cais/mmlu``) or a local directory / data files the ``datasets`` library can
    read; offline machines work with a local copy.

    Raises:
        InputError: If ``datasets`` is missing or the dataset/split cannot be loaded.
    """
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets comes with the [hf] extra
        raise InputError(
            "Loading Hugging Face datasets needs `datasets` (pip install 'llmcal[hf]')."
        ) from None
    try:
        dataset = datasets.load_dataset(path, config, split=split, revision=revision)
    except Exception as error:  # datasets raises many unrelated types (network, missing config, ...)
        where = f"{path}" + (f" (config {config!r})" if config else "") + f" split {split!r}"
        raise InputError(f"Could not load dataset {where}: {type(error).__name__}: {error}") from None
    return [dict(row) for row in dataset]
