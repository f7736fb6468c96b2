"""The files of ``llmcal study``: one ``cell.json`` per unit of work, ``study.json`` for the verdicts.

A study directory holds ``cells/<name>/cell.json`` for every cell (a fine-tuning read after each of its
epochs, one model's detector, a DPO run, ...), written atomically when the cell ends, with the cell's
specification, its measured tables and what it cost. A rerun into the same directory skips every cell whose
file exists with the same specification, so a killed study resumes where it stopped. ``study.json`` holds the
settings, the verdict per claim and the cells each verdict reads, and is written last.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal import __version__
from llmcal.atomic import write_text_atomic
from llmcal.confidence.methods import OptionProbabilities
from llmcal.errors import InputError
from llmcal.metrics.predictions import Predictions
from llmcal.runs.files import parse_file, read_json_object
from llmcal.runs.manifest import as_json, manifest_changes

__all__ = [
    "CELL_FORMAT",
    "STUDY_NAME",
    "Cell",
    "ClaimVerdict",
    "ProbabilityTable",
    "StudyResults",
    "cell_path",
    "check_study_settings",
    "read_cell",
    "read_study",
    "write_cell",
    "write_study",
    "write_study_settings",
]

STUDY_NAME = "study.json"
SETTINGS_NAME = "study-settings.json"
CELL_NAME = "cell.json"
CELL_FORMAT = 1


@dataclass(frozen=True)
class ProbabilityTable:
    """A model's option probabilities (``sum`` method unless named) on a list of items, in item order.

    Attributes:
        ids: Item ids.
        probs: Per item, its options' probabilities (items may have different option counts).
        labels: Gold option per item.
    """

    ids: list[str]
    probs: list[list[float]]
    labels: list[int]

    @classmethod
    def of(cls, ids: Sequence[str], table: OptionProbabilities) -> ProbabilityTable:
        """The table of ``table``'s rows, one per id."""
        probs = [row[mask].tolist() for row, mask in zip(table.probs, table.option_mask, strict=True)]
        return cls(list(ids), probs, table.labels.tolist())

    def option_probabilities(self) -> OptionProbabilities:
        """The table as the metrics take it: zero-padded probabilities, labels, option mask."""
        width = max(len(row) for row in self.probs)
        probs = np.zeros((len(self.probs), width))
        mask = np.zeros((len(self.probs), width), dtype=bool)
        for index, row in enumerate(self.probs):
            probs[index, : len(row)] = row
            mask[index, : len(row)] = True
        return OptionProbabilities(probs, np.asarray(self.labels, dtype=np.intp), mask)

    def predictions(self, rows: NDArray[np.bool_] | None = None, source: str = "") -> Predictions:
        """The table's predictions, of the rows ``rows`` selects (all by default)."""
        table = self.option_probabilities()
        predictions = Predictions.from_probabilities(table.probs, table.labels, source, table.option_mask)
        return predictions if rows is None else predictions.subset(rows)


@dataclass(frozen=True)
class Cell:
    """One unit of the study's work and what it measured.

    Attributes:
        name: Its directory name under ``cells/``.
        spec: Everything that determines its result (model, items, loss, settings, seed); a rerun with
            another spec is refused rather than mixed.
        tables: Named probability tables (``test@1`` = the test items after epoch 1, ...).
        values: Named numbers and lists (known flags, gold NLLs, a threshold, the training log).
        seconds: Wall time of the cell.
        peak_rss_gib: The process's peak resident memory when the cell ended.
    """

    name: str
    spec: dict[str, Any]
    tables: dict[str, ProbabilityTable] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_gib: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "format": CELL_FORMAT,
            "llmcal_version": __version__,
            "name": self.name,
            "spec": self.spec,
            "tables": {name: asdict(table) for name, table in self.tables.items()},
            "values": self.values,
            "seconds": self.seconds,
            "peak_rss_gib": self.peak_rss_gib,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cell:
        """Inverse of :meth:`to_dict`."""
        if data["format"] != CELL_FORMAT:
            raise ValueError(f"cell format {data['format']!r}, this llmcal reads {CELL_FORMAT}")
        tables = {
            str(name): ProbabilityTable(
                [str(item) for item in table["ids"]],
                [[float(p) for p in row] for row in table["probs"]],
                [int(label) for label in table["labels"]],
            )
            for name, table in data["tables"].items()
        }
        return cls(
            str(data["name"]), dict(data["spec"]), tables, dict(data["values"]),
            float(data["seconds"]), float(data["peak_rss_gib"]),
        )  # fmt: skip


def cell_path(out: Path, name: str) -> Path:
    """The directory of cell ``name``."""
    return out / "cells" / name


# Significant digits a cell keeps of its measured numbers: ECE and accuracies are read to 1e-7 at worst,
# and a study's cells stay small enough to keep beside the page they decide (docs/study.md).
MEASURED_DIGITS = 7


def write_cell(out: Path, cell: Cell) -> None:
    """Writes ``cells/<name>/cell.json`` atomically, compact, its measured numbers to 7 significant digits.

    The spec is kept exactly (as it reads back from JSON): a rerun compares it for equality. Strict JSON:
    a non-finite value is written as ``null``.
    """
    data = as_json(cell.to_dict())
    data["tables"], data["values"] = _rounded(data["tables"]), _strict(_rounded(data["values"]))
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    write_text_atomic(cell_path(out, cell.name) / CELL_NAME, text + "\n")


def _rounded(value: Any) -> Any:
    """``value`` with every float to :data:`MEASURED_DIGITS` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{MEASURED_DIGITS}g}") if np.isfinite(value) else value
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def read_cell(out: Path, name: str, spec: Mapping[str, Any]) -> Cell | None:
    """Cell ``name`` if it has finished with ``spec``; ``None`` if it has not finished.

    Raises:
        InputError: If it finished with another spec (the study's settings changed under the same
            directory), or its file is not one llmcal writes.
    """
    path = cell_path(out, name) / CELL_NAME
    if not path.is_file():
        return None
    cell = parse_file(path, "a study cell", Cell.from_dict)
    wanted = as_json(dict(spec))
    if cell.spec != wanted:
        changes = _differences(cell.spec, wanted)
        raise InputError(
            f"{path} was measured with other settings ({changes}). A study directory holds one study: "
            "rerun with the settings it was started with, or choose a new `out`.",
            parameter="out",
        )
    return cell


def write_study_settings(out: Path, settings: dict[str, Any]) -> None:
    """Writes ``study-settings.json`` (before any cell), so a rerun can be checked against it."""
    data = {"format": CELL_FORMAT, "llmcal_version": __version__, "settings": as_json(settings)}
    write_text_atomic(out / SETTINGS_NAME, json.dumps(data, indent=2) + "\n")


def check_study_settings(out: Path, settings: dict[str, Any]) -> None:
    """Refuses a study directory started with other settings, naming what differs.

    Raises:
        InputError: If ``study-settings.json`` exists and records other settings, or is not one llmcal
            writes.
    """
    path = out / SETTINGS_NAME
    if not path.is_file():
        return
    recorded = read_json_object(path).get("settings")
    wanted = as_json(settings)
    if recorded != wanted:
        changes = _differences(recorded, wanted) if isinstance(recorded, dict) else "unreadable settings"
        raise InputError(
            f"{out} holds a study started with other settings ({changes}). Rerun with those settings to "
            "resume it, or choose a new `out`.",
            parameter="out",
        )


@dataclass(frozen=True)
class ClaimVerdict:
    """One claim of the papers, decided from the study's cells.

    Attributes:
        id: Short id (``cogcalib-losses``).
        paper: Which paper makes it.
        claim: The claim, in words.
        paper_number: What the paper reports, with its setting.
        measured: What the study measured, in words with its interval.
        estimate: The decisive number.
        low: Its interval's lower end (95%).
        high: Its interval's upper end.
        verdict: ``reproduced``, ``partly``, ``not reproduced`` or ``undecided``.
        why: One sentence on why, from the evidence.
        cells: The cells (directories under ``cells/``) the numbers come from.
    """

    id: str
    paper: str
    claim: str
    paper_number: str
    measured: str
    estimate: float
    low: float
    high: float
    verdict: str
    why: str
    cells: list[str]


@dataclass(frozen=True)
class StudyResults:
    """``study.json``: the settings, every claim's verdict, the figures' data, and the study's cost.

    Attributes:
        settings: The study's settings.
        verdicts: One per claim.
        tables: Named tables of numbers the report shows (dose-response rows, detector rows, ...), each a
            list of rows (dicts of column -> value).
        seconds: Wall time of the cells (their sum; a resumed study counts each cell once).
        peak_rss_gib: The largest peak memory any cell reached.
    """

    settings: dict[str, Any]
    verdicts: list[ClaimVerdict]
    tables: dict[str, list[dict[str, Any]]]
    seconds: float
    peak_rss_gib: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"format": CELL_FORMAT, "llmcal_version": __version__, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyResults:
        """Inverse of :meth:`to_dict`."""
        return cls(
            dict(data["settings"]),
            [ClaimVerdict(**_with_nan(verdict, ("estimate", "low", "high"))) for verdict in data["verdicts"]],
            {str(name): [dict(row) for row in rows] for name, rows in data["tables"].items()},
            float(data["seconds"]),
            float(data["peak_rss_gib"]),
        )


def write_study(out: Path, results: StudyResults) -> None:
    """Writes ``out/study.json`` atomically (NaN written as null: strict JSON)."""
    text = json.dumps(_strict(results.to_dict()), indent=2, allow_nan=False)
    write_text_atomic(out / STUDY_NAME, text + "\n")


def read_study(out: Path) -> StudyResults:
    """``out/study.json``.

    Raises:
        InputError: If it is missing or not the structure llmcal writes.
    """
    return parse_file(out / STUDY_NAME, "the results of `llmcal study`", StudyResults.from_dict)


def _differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """The first three differences between two specs, in words (``settings.seed 0 -> 1``)."""
    return "; ".join(manifest_changes({"settings": before}, {"settings": now})[:3])


def _with_nan(row: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """``row`` with ``None`` (how strict JSON holds NaN) back as NaN under ``keys``."""
    return {key: float("nan") if key in keys and value is None else value for key, value in row.items()}


def _strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(item) for item in value]
    return value
