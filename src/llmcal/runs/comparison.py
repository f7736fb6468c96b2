"""A comparison on disk: ``comparison.json``, the change of every metric between pairs of evaluations.

Directory layout::

    comparison.json   settings, the compared pairs, every change, and each task x method not compared
                      with why (written here)
    comparison.md     the same as markdown tables (drawn by :mod:`llmcal.reports`)
    comparison.png    a forest plot of the headline metrics (drawn by :mod:`llmcal.reports`)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmcal.atomic import write_text_atomic
from llmcal.errors import InputError
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.settings import MetricSettings
from llmcal.runs.files import parse_file

__all__ = [
    "COMPARISON_NAME",
    "COMPARISON_PLOT_NAME",
    "ComparedPair",
    "ComparisonResults",
    "UncomparedMethod",
    "read_comparison",
    "write_comparison_results",
]

COMPARISON_NAME = "comparison.json"
COMPARISON_PLOT_NAME = "comparison.png"


@dataclass(frozen=True)
class ComparedPair:
    """One compared pair of evaluation runs.

    Attributes:
        name: The pair's name in tables.
        base: Directory of the base run.
        aligned: Directory of the run compared to it.
        base_model: The base run's model.
        aligned_model: The other run's model.
    """

    name: str
    base: str
    aligned: str
    base_model: str
    aligned_model: str


@dataclass(frozen=True)
class UncomparedMethod:
    """A task x confidence method of a pair that has no change: no item has a confidence in both runs.

    Attributes:
        pair: The pair's name.
        task: The task.
        method: The confidence method (e.g. ``verbal``, when the model never wrote a readable probability).
        reason: Why, with each run's number of answers without a confidence and their problems.
    """

    pair: str
    task: str
    method: str
    reason: str


@dataclass(frozen=True)
class ComparisonResults:
    """``comparison.json``: the settings, the pairs, and the change of every metric per pair.

    Attributes:
        uncompared: The task x methods of the pairs left out of ``changes``, each with why.
    """

    settings: MetricSettings
    pairs: list[ComparedPair]
    changes: list[MetricChange]
    uncompared: list[UncomparedMethod] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (NaN becomes ``None``); ``uncompared`` only when some method was not compared."""
        data: dict[str, Any] = {
            "settings": asdict(self.settings),
            "pairs": [asdict(pair) for pair in self.pairs],
            "changes": [change.to_dict() for change in self.changes],
        }
        if self.uncompared:
            data["uncompared"] = [asdict(item) for item in self.uncompared]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComparisonResults:
        """Inverse of :meth:`to_dict`."""
        return cls(
            MetricSettings(**data["settings"]),
            [ComparedPair(**pair) for pair in data["pairs"]],
            [MetricChange.from_dict(change) for change in data["changes"]],
            [
                UncomparedMethod(
                    str(item["pair"]), str(item["task"]), str(item["method"]), str(item["reason"])
                )
                for item in data.get("uncompared", [])
            ],
        )

    @property
    def setup(self) -> dict[str, Any]:
        """What was compared and how: the settings and the pairs, in their JSON form."""
        return {"settings": asdict(self.settings), "pairs": [asdict(pair) for pair in self.pairs]}

    @property
    def ranked(self) -> bool:
        """Whether the changes carry ranks (several pairs were compared)."""
        return any(change.rank is not None for change in self.changes)


def write_comparison_results(out: Path, results: ComparisonResults) -> None:
    """Writes ``out/comparison.json`` atomically (creating ``out``).

    Raises:
        InputError: If ``out`` exists and is not a directory.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory; choose another `out`.", parameter="out")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / COMPARISON_NAME, json.dumps(results.to_dict(), indent=2) + "\n")


def read_comparison(out: Path) -> ComparisonResults:
    """``out/comparison.json``.

    Raises:
        InputError: If it is missing or does not have the structure llmcal writes.
    """
    return parse_file(out / COMPARISON_NAME, "a comparison", ComparisonResults.from_dict)
