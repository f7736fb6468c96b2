"""Per-item predictions read from a file: what ``llmcal metrics`` consumes.

Two layouts, detected from the first record and then required of every record:

- **probabilities**: each item has a vector of per-option probabilities (or logits, with
  ``input_kind="logits"``) and the gold option index. JSONL: ``{"probs": [0.7, 0.2, 0.1], "label": 0}``.
  CSV: a ``label`` column and one column per option, ``probs_0``, ``probs_1``, ...; an item with fewer
  options leaves its last cells empty.
- **top-label**: only the confidence in the predicted answer and whether it was right, e.g. verbalised
  confidences. JSONL: ``{"confidence": 0.8, "correct": true}``; CSV columns ``confidence``, ``correct``.

Any other field of a record (``"popularity": 3.2e7``, ``"subject": "law"``) can split the metrics into
strata (``llmcal metrics FILE --by popularity``): :func:`read_field` reads it.

Labels are whole numbers (``1``, ``1.0`` or ``"1"``); ``correct`` is true/false, 1/0 or 1.0/0.0. CSV is
read by :func:`llmcal.jsonl.read_csv` (quoted cells may hold line breaks; ``file:line`` is the line a row
starts on). Every problem is an :class:`~llmcal.errors.InputError` naming ``file:line`` and the field (a
CSV cell by its column, ``probs_1``), and a file without records (empty, blank, a header without rows) is
one too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from llmcal.errors import InputError
from llmcal.jsonl import CsvTable, empty_file_problem, read_csv, read_jsonl, typed_column, whole_number
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.validation import ROW_SUM_TOLERANCE, padded_rows

__all__ = ["FieldValue", "InputKind", "read_field", "read_predictions"]

InputKind = Literal["probs", "logits"]
FieldValue = str | int | float | bool
"""A record's value of a field the metrics are stratified by."""

_TRUE_WORDS = frozenset({"true", "1"})
_FALSE_WORDS = frozenset({"false", "0"})


class _Rows:
    """Collects validated rows of one layout and turns them into :class:`Predictions`."""

    def __init__(self, path: Path, probs_key: str, label_key: str, input_kind: InputKind) -> None:
        self.path = path
        self.probs_key = probs_key
        self.label_key = label_key
        self.input_kind = input_kind
        self.layout: Literal["probabilities", "top_label"] | None = None
        self.vectors: list[list[float]] = []
        self.labels: list[int] = []
        self.confidences: list[float] = []
        self.correct: list[float] = []
        # A CSV file's option columns (probs_0, probs_1, ...), so that a bad cell is named by its column.
        self.option_columns: list[str] = []

    def fail(self, line: int, field: str | None, problem: str, *, parameter: str | None = None) -> InputError:
        where = f"{self.path}:{line}" + (f": field {field!r}" if field else "")
        return InputError(f"{where}: {problem}", parameter=parameter)

    def add(self, line: int, record: dict[str, Any]) -> None:
        layout = self._layout_of(line, record)
        if self.layout is None:
            self.layout = layout
        elif layout != self.layout:
            raise self.fail(line, None, f"expected a {self.layout} record like the first one; got {layout}.")
        if layout == "probabilities":
            self._add_probabilities(line, record)
        else:
            self._add_top_label(line, record)

    def _layout_of(self, line: int, record: dict[str, Any]) -> Literal["probabilities", "top_label"]:
        if self.probs_key in record:
            return "probabilities"
        if "confidence" in record:
            return "top_label"
        raise self.fail(
            line,
            None,
            f"expected either {self.probs_key!r} and {self.label_key!r} (per-option probabilities) or "
            f"'confidence' and 'correct' (top-label); found fields {sorted(record)}.",
        )

    def _number(self, line: int, field: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(line, field, f"expected a number; found {value!r}.")
        try:
            number = float(value)
        except ValueError:
            raise self.fail(line, field, f"expected a number; found {value!r}.") from None
        if not math.isfinite(number):
            raise self.fail(line, field, f"expected a finite number; found {value!r}.")
        return number

    def _add_probabilities(self, line: int, record: dict[str, Any]) -> None:
        raw = record[self.probs_key]
        if not isinstance(raw, list) or len(raw) < 2:
            raise self.fail(line, self.probs_key, f"expected a list of at least 2 numbers; found {raw!r}.")
        names = self.option_columns or [self.probs_key] * len(raw)
        vector = np.array([self._number(line, name, value) for name, value in zip(names, raw, strict=False)])
        if self.input_kind == "logits":
            vector = np.exp(vector - vector.max())
            vector /= vector.sum()
        elif vector.min() < 0.0 or vector.max() > 1.0 or abs(vector.sum() - 1.0) > ROW_SUM_TOLERANCE:
            raise self.fail(
                line,
                self.probs_key,
                f"expected probabilities in [0, 1] summing to 1; found {raw!r} (sum {vector.sum():.6g}). "
                "If these are logits or log-likelihoods, pass `input_kind=logits`.",
                parameter="input_kind",
            )
        if self.label_key not in record:
            raise self.fail(line, self.label_key, "missing; each item needs its gold option index.")
        label = record[self.label_key]
        index = whole_number(label)  # 1, 1.0 and "1" are all option 1; 1.5, NaN and true are not
        if index is None or not 0 <= index < len(vector):
            raise self.fail(
                line, self.label_key, f"expected an option index in 0..{len(vector) - 1}; found {label!r}."
            )
        self.vectors.append(vector.tolist())
        self.labels.append(index)

    def _add_top_label(self, line: int, record: dict[str, Any]) -> None:
        confidence = self._number(line, "confidence", record["confidence"])
        if not 0.0 <= confidence <= 1.0:
            raise self.fail(line, "confidence", f"expected a value in [0, 1]; found {confidence!r}.")
        if "correct" not in record:
            raise self.fail(line, "correct", "missing; each item needs whether its answer was right.")
        correct = record["correct"]
        number = whole_number(correct)  # 1.0 and "0.0" (pandas writes them) count as 1 and 0
        if isinstance(correct, bool):
            right: bool | None = correct
        elif number in (0, 1):
            right = number == 1
        else:
            text = correct.strip().lower() if isinstance(correct, str) else ""
            right = True if text in _TRUE_WORDS else False if text in _FALSE_WORDS else None
        if right is None:
            raise self.fail(line, "correct", f"expected true/false or 1/0; found {correct!r}.")
        self.confidences.append(confidence)
        self.correct.append(1.0 if right else 0.0)

    def finish(self) -> Predictions:
        if self.layout is None:  # only a JSON Lines file gets here: read_csv refuses one without rows
            raise _no_predictions(self.path)
        if self.layout == "top_label":
            return Predictions(np.array(self.confidences), np.array(self.correct), None, None, str(self.path))
        probs, mask = padded_rows(self.vectors)
        # Tiny row-sum drift is tolerated on input; renormalise so downstream checks see exact sums.
        probs /= probs.sum(axis=1, keepdims=True)
        labels = np.array(self.labels, dtype=np.intp)
        return Predictions.from_probabilities(probs, labels, str(self.path), mask)


_JSONL_EXAMPLE = '{"probs": [0.7, 0.3], "label": 0} or {"confidence": 0.8, "correct": true}'
_CSV_EXAMPLE = "probs_0,probs_1,label; or confidence,correct"


def _no_predictions(path: Path) -> InputError:
    return InputError(
        f"{path}: no predictions found: {empty_file_problem(path)}; expected one JSON object per line, like "
        f"{_JSONL_EXAMPLE}."
    )


def _jsonl_records(path: Path, rows: _Rows) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_number, record in read_jsonl(path):
        if not isinstance(record, dict):
            raise rows.fail(line_number, None, f"expected a JSON object; found {type(record).__name__}.")
        yield line_number, record


def _csv_table(path: Path) -> CsvTable:
    return read_csv(path, record="prediction", example=_CSV_EXAMPLE)


def _csv_records(path: Path, rows: _Rows) -> Iterator[tuple[int, dict[str, Any]]]:
    table = _csv_table(path)
    prefix = f"{rows.probs_key}_"
    option_columns = sorted(
        (name for name in table.columns if name.startswith(prefix) and name[len(prefix) :].isdigit()),
        key=lambda name: int(name[len(prefix) :]),
    )
    rows.option_columns = option_columns
    for line_number, record in table.rows:
        converted: dict[str, Any] = {key: value for key, value in record.items() if value != ""}
        if option_columns:
            cells = [record[name] for name in option_columns]
            # Trailing empty cells are options this item does not have (ragged option counts).
            while cells and cells[-1] == "":
                cells.pop()
            converted[rows.probs_key] = cells
        yield line_number, converted


def read_predictions(
    path: str | Path,
    *,
    probs_key: str = "probs",
    label_key: str = "label",
    input_kind: InputKind = "probs",
) -> Predictions:
    """Reads per-item predictions from a ``.jsonl`` or ``.csv`` file (layouts in the module docstring).

    Args:
        path: The file; the format follows its suffix (``.jsonl``/``.json`` or ``.csv``).
        probs_key: JSON field (or CSV column prefix) holding per-option values.
        label_key: JSON field (or CSV column) holding the gold option index.
        input_kind: ``"probs"`` if the vectors are probabilities, ``"logits"`` if they are unnormalised
            scores such as per-option log-likelihoods (a softmax is applied per item).

    Returns:
        The predictions; nothing is returned from a half-read file.

    Raises:
        InputError: If the file is missing, unreadable, or any record is malformed.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file.")
    if input_kind not in ("probs", "logits"):
        raise InputError(f"`input_kind` must be 'probs' or 'logits'; got {input_kind!r}.")
    rows = _Rows(file, probs_key, label_key, input_kind)
    for line_number, record in _records(file, rows):
        rows.add(line_number, record)
    return rows.finish()


def _records(file: Path, rows: _Rows) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = file.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _jsonl_records(file, rows)
    if suffix == ".csv":
        return _csv_records(file, rows)
    raise InputError(f"{file}: unsupported file type {suffix!r}; expected .jsonl or .csv.")


def read_field(path: str | Path, name: str) -> list[FieldValue]:
    """Each record's value of field ``name``, in file order (what ``llmcal metrics --by`` splits by).

    JSON values are kept as they are. A CSV column is typed as a whole (:func:`llmcal.jsonl.typed_column`):
    numbers when every cell is one (``int`` if every cell is an integer, else ``float``), else text, every
    cell as written (a column mixing numbers and text, or codes with a leading zero such as ``007``).

    Raises:
        InputError: If the file cannot be read or holds no records, a value is not a scalar, a cell of a
            CSV column of numbers is NaN or infinite, or some records lack the field (naming how many, the
            first line that does, and the fields the records have).
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file.")
    suffix = file.suffix.lower()
    if suffix == ".csv":
        table = _csv_table(file)
        cells = [(line, row.get(name, "")) for line, row in table.rows]
        present = {column: sum(row[column] != "" for _, row in table.rows) for column in table.columns}
        _check_present(file, name, [line for line, cell in cells if cell == ""], len(cells), present)
        return list(typed_column(file, name, cells))
    rows = _Rows(file, "probs", "label", "probs")
    values: list[FieldValue] = []
    missing: list[int] = []
    counts: dict[str, int] = {}
    n_records = 0
    for line, record in _records(file, rows):
        n_records += 1
        for key in record:
            counts[key] = counts.get(key, 0) + 1
        value = record.get(name)
        if value is None:
            missing.append(line)
        elif isinstance(value, FieldValue):
            values.append(value)
        else:
            raise rows.fail(
                line, name, f"expected a number, text or true/false to split by; found {value!r}."
            )
    if not n_records:
        raise _no_predictions(file)
    _check_present(file, name, missing, n_records, counts)
    return values


def _check_present(
    file: Path, name: str, missing: list[int], n_records: int, present: dict[str, int]
) -> None:
    if not missing:
        return
    listed = ", ".join(
        key if count == n_records else f"{key} ({count} of {n_records})"
        for key, count in sorted(present.items())
        if count
    )
    raise InputError(
        f"{file}: {len(missing)} of {n_records} records have no field {name!r} (line {missing[0]} is "
        f"one). The records have: {listed}."
    )
