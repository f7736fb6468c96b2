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

Every problem is an :class:`~llmcal.errors.InputError` naming ``file:line`` and the field.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from llmcal.errors import InputError
from llmcal.jsonl import read_jsonl
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

    def fail(self, line: int, field: str | None, problem: str) -> InputError:
        where = f"{self.path}:{line}" + (f": field {field!r}" if field else "")
        return InputError(f"{where}: {problem}")

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
        vector = np.array([self._number(line, self.probs_key, value) for value in raw])
        if self.input_kind == "logits":
            vector = np.exp(vector - vector.max())
            vector /= vector.sum()
        elif vector.min() < 0.0 or vector.max() > 1.0 or abs(vector.sum() - 1.0) > ROW_SUM_TOLERANCE:
            raise self.fail(
                line,
                self.probs_key,
                f"expected probabilities in [0, 1] summing to 1; found {raw!r} (sum {vector.sum():.6g}). "
                "If these are logits or log-likelihoods, pass --input-kind logits.",
            )
        if self.label_key not in record:
            raise self.fail(line, self.label_key, "missing; each item needs its gold option index.")
        label = record[self.label_key]
        if isinstance(label, str) and label.strip().lstrip("-").isdigit():
            label = int(label)
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(vector):
            raise self.fail(
                line, self.label_key, f"expected an option index in 0..{len(vector) - 1}; found {label!r}."
            )
        self.vectors.append(vector.tolist())
        self.labels.append(label)

    def _add_top_label(self, line: int, record: dict[str, Any]) -> None:
        confidence = self._number(line, "confidence", record["confidence"])
        if not 0.0 <= confidence <= 1.0:
            raise self.fail(line, "confidence", f"expected a value in [0, 1]; found {confidence!r}.")
        if "correct" not in record:
            raise self.fail(line, "correct", "missing; each item needs whether its answer was right.")
        correct = record["correct"]
        text = str(correct).strip().lower() if isinstance(correct, bool | int | str) else ""
        if text not in _TRUE_WORDS | _FALSE_WORDS:
            raise self.fail(line, "correct", f"expected true/false or 1/0; found {correct!r}.")
        self.confidences.append(confidence)
        self.correct.append(1.0 if text in _TRUE_WORDS else 0.0)

    def finish(self) -> Predictions:
        if self.layout is None:
            raise InputError(f"{self.path}: no predictions found; the file is empty.")
        if self.layout == "top_label":
            return Predictions(np.array(self.confidences), np.array(self.correct), None, None, str(self.path))
        probs, mask = padded_rows(self.vectors)
        # Tiny row-sum drift is tolerated on input; renormalise so downstream checks see exact sums.
        probs /= probs.sum(axis=1, keepdims=True)
        labels = np.array(self.labels, dtype=np.intp)
        return Predictions.from_probabilities(probs, labels, str(self.path), mask)


def _jsonl_records(path: Path, rows: _Rows) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_number, record in read_jsonl(path):
        if not isinstance(record, dict):
            raise rows.fail(line_number, None, f"expected a JSON object; found {type(record).__name__}.")
        yield line_number, record


def _csv_records(path: Path, rows: _Rows) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise rows.fail(line, None, f"not valid UTF-8 ({error.reason} at byte {error.start}).") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    prefix = f"{rows.probs_key}_"
    option_columns = sorted(
        (name for name in header if name.startswith(prefix) and name[len(prefix) :].isdigit()),
        key=lambda name: int(name[len(prefix) :]),
    )
    for index, record in enumerate(reader):
        line_number = index + 2  # the header is line 1
        if None in record:
            raise rows.fail(line_number, None, f"has more cells than the header's {len(header)} columns.")
        converted: dict[str, Any] = {key: value for key, value in record.items() if value not in ("", None)}
        if option_columns:
            cells = [record[name] for name in option_columns]
            # Trailing empty cells are options this item does not have (ragged option counts).
            while cells and cells[-1] in ("", None):
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

    JSON values are kept as they are; CSV cells are numbers when every cell of the column reads as one,
    else text.

    Raises:
        InputError: If the file cannot be read, a value is not a scalar, or some records lack the field
            (naming how many, the first line that does, and the fields the records have).
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file.")
    rows = _Rows(file, "probs", "label", "probs")
    values: list[FieldValue] = []
    missing: list[int] = []
    present: dict[str, int] = {}
    n_records = 0
    for line, record in _records(file, rows):
        n_records += 1
        for key in record:
            present[key] = present.get(key, 0) + 1
        value = record.get(name)
        if value is None:
            missing.append(line)
        elif isinstance(value, FieldValue):
            values.append(value)
        else:
            raise rows.fail(
                line, name, f"expected a number, text or true/false to split by; found {value!r}."
            )
    if missing:
        listed = ", ".join(
            key if count == n_records else f"{key} ({count} of {n_records})"
            for key, count in sorted(present.items())
        )
        raise InputError(
            f"{file}: {len(missing)} of {n_records} records have no field {name!r} (line {missing[0]} is "
            f"one). The records have: {listed}."
        )
    if file.suffix.lower() == ".csv":
        return _numbers_if_all_are(values)
    return values


def _numbers_if_all_are(cells: list[FieldValue]) -> list[FieldValue]:
    """CSV cells as floats when every one reads as a finite number, else unchanged."""
    numbers: list[FieldValue] = []
    for cell in cells:
        try:
            number = float(cell)
        except ValueError:
            return cells
        if not math.isfinite(number):
            return cells
        numbers.append(number)
    return numbers
