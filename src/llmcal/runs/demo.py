"""The demo's own results on disk: ``demo.json``, the story's numbers in one file.

The demo's directory also holds the evaluation, alignment, comparison and fine-tuning runs it made, each
in its own kind's layout, and ``report.html``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmcal.atomic import write_text_atomic
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.summary import CalibrationRow
from llmcal.runs.files import parse_file

__all__ = [
    "DEMO_NAME",
    "DemoResults",
    "DemoRow",
    "RealModelResults",
    "known_unknown_values",
    "read_demo",
    "write_demo",
]

DEMO_NAME = "demo.json"


@dataclass(frozen=True)
class DemoRow:
    """One variant's calibration on one group of test items (``all``, ``known`` or ``unknown`` people)."""

    variant: str
    group: str
    calibration: CalibrationRow

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the variant and group, then the calibration row's entries."""
        return {"variant": self.variant, "group": self.group, **asdict(self.calibration)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DemoRow:
        """Inverse of :meth:`to_dict`."""
        row = {key: value for key, value in data.items() if key not in ("variant", "group")}
        return cls(str(data["variant"]), str(data["group"]), CalibrationRow.from_dict(row))


def known_unknown_values(rows: Sequence[DemoRow], metric: str) -> dict[str, dict[str, float]]:
    """Per variant, in row order, ``metric`` on its ``known`` and ``unknown`` items (other groups left out).

    A variant lacking one of the two groups has only the other.
    """
    values: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.group in ("known", "unknown"):
            values.setdefault(row.variant, {})[row.group] = getattr(row.calibration, metric)
    return values


@dataclass(frozen=True)
class RealModelResults:
    """The demo's real-model part: a packaged LLM on real-world facts, by popularity.

    Attributes:
        model: The model's name as given (a packaged model's short name).
        source: The backend's description of it: the GGUF file, its hash and quantization type.
        task: The fact task the questions come from.
        n_calibration: Held-out questions the temperatures were fitted on.
        n_test: Test questions.
        by: The field the test questions are broken down by.
        strata: The strata's labels, in increasing order.
        temperatures: Per confidence method, the temperature fitted on the held-out questions.
        rows: Per method, with and without its temperature, calibration on ``all`` test questions and
            per stratum (the group is the stratum's label).
    """

    model: str
    source: dict[str, Any]
    task: str
    n_calibration: int
    n_test: int
    by: str
    strata: list[str]
    temperatures: dict[str, float]
    rows: list[DemoRow]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        data = asdict(self)
        data["rows"] = [row.to_dict() for row in self.rows]
        return data

    @property
    def gguf(self) -> dict[str, Any]:
        """The GGUF file the model was read from (``file``, ``quantization``); empty if it was not one."""
        gguf: dict[str, Any] = self.source.get("gguf", {})
        return gguf

    @property
    def overall_rows(self) -> list[DemoRow]:
        """The rows of every method on all test questions."""
        return [row for row in self.rows if row.group == "all"]

    @property
    def stratum_rows(self) -> list[DemoRow]:
        """The rows of every method per stratum."""
        return [row for row in self.rows if row.group != "all"]

    def rows_by_stratum(self, variant: str) -> list[DemoRow]:
        """``variant``'s rows of the strata, in increasing order of the strata."""
        order = {label: position for position, label in enumerate(self.strata)}
        chosen = [row for row in self.rows if row.variant == variant and row.group in order]
        return sorted(chosen, key=lambda row: order[row.group])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RealModelResults:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(data["model"]),
            dict(data["source"]),
            str(data["task"]),
            int(data["n_calibration"]),
            int(data["n_test"]),
            str(data["by"]),
            [str(label) for label in data["strata"]],
            {str(method): float(value) for method, value in data["temperatures"].items()},
            [DemoRow.from_dict(row) for row in data["rows"]],
        )


@dataclass(frozen=True)
class DemoResults:
    """``demo.json``.

    Attributes:
        preset: World preset.
        seed: World and model seed.
        world: The world's facts: digest, recall of known and unknown facts, chance, items, cache use.
        schedule: Fine-tuning and alignment schedule and bootstrap resamples.
        temperature: Temperature fitted on the calibration people.
        rows: Calibration of every variant per group of test people.
        alignment: The DPO alignment's settings, pairs and log (empty without alignment).
        comparison: Pretrained vs aligned: the change of every compared metric (empty without alignment).
        real_model: The real-model part (``None`` when it was skipped).
    """

    preset: str
    seed: int
    world: dict[str, Any]
    schedule: dict[str, Any]
    temperature: float
    rows: list[DemoRow]
    alignment: dict[str, Any]
    comparison: list[MetricChange]
    real_model: RealModelResults | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``real_model`` only when that part ran, so older files are written back as read."""
        data = {
            "preset": self.preset,
            "seed": self.seed,
            "world": self.world,
            "schedule": self.schedule,
            "temperature": self.temperature,
            "rows": [row.to_dict() for row in self.rows],
            "alignment": self.alignment,
            "comparison": [change.to_dict() for change in self.comparison],
        }
        if self.real_model is not None:
            data["real_model"] = self.real_model.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DemoResults:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(data["preset"]),
            int(data["seed"]),
            dict(data["world"]),
            dict(data["schedule"]),
            float(data["temperature"]),
            [DemoRow.from_dict(row) for row in data["rows"]],
            dict(data["alignment"]),
            [MetricChange.from_dict(c) for c in data["comparison"]],
            # demo.json files before the real-model part have no such key.
            None if data.get("real_model") is None else RealModelResults.from_dict(data["real_model"]),
        )


def write_demo(out: Path, results: DemoResults) -> None:
    """Writes ``out/demo.json`` atomically."""
    write_text_atomic(out / DEMO_NAME, json.dumps(results.to_dict(), indent=2) + "\n")


def read_demo(out: Path) -> DemoResults:
    """``out/demo.json``.

    Raises:
        InputError: If it is missing or does not have the structure llmcal writes.
    """
    return parse_file(out / DEMO_NAME, "the results of `llmcal demo`", DemoResults.from_dict)
