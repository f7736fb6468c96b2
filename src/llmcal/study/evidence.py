"""Reading the study's cells as evidence: predictions per seed, paired changes, post-hoc baselines.

Every number of the verdicts and of the report's tables is computed here from the cells' probability
tables, with the study's binning and bootstrap (:class:`~llmcal.metrics.MetricSettings`), so the report can
name the cells each one comes from.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from llmcal.calibrators.temperature import TemperatureScaler
from llmcal.errors import CalibrationWarning, InputError
from llmcal.metrics.bootstrap import recentred_interval
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.seed_average import (
    SeedAveragedChange,
    seed_averaged_changes,
    seed_averaged_values,
    seed_mean,
)
from llmcal.metrics.settings import MetricSettings
from llmcal.reports.cells import temperature_cell
from llmcal.runs.study import Cell, ProbabilityTable

__all__ = ["Arm", "mean_interval", "overconfidence_change", "temperature_scaled"]


@dataclass(frozen=True)
class Arm:
    """One model variant read on one split under each seed: its cells and their tables of the same items.

    Attributes:
        label: What it is (``sft, lora-r8, 4 epochs``).
        cells: One cell per seed (the same cell repeated for a model without seeds).
        table: The table read from each cell (``test@4``, ``test:sum``).
        tables: The tables themselves (for post-hoc variants that are not a cell's own, e.g. scaled).
        note: What was done to the tables beyond their cells (the fitted temperatures), for the verdicts.
    """

    label: str
    cells: tuple[Cell, ...]
    table: str
    tables: tuple[ProbabilityTable, ...]
    note: str = ""

    @classmethod
    def of(cls, label: str, cells: Sequence[Cell], table: str) -> Arm:
        """The arm reading ``table`` from each of ``cells``.

        Raises:
            InputError: If a cell has no such table.
        """
        missing = [cell.name for cell in cells if table not in cell.tables]
        if missing:
            raise InputError(f"study cells {missing} have no table {table!r}; were they run by this llmcal?")
        return cls(label, tuple(cells), table, tuple(cell.tables[table] for cell in cells))

    @property
    def cell_names(self) -> list[str]:
        """The distinct cells it reads, in seed order."""
        return list(dict.fromkeys(cell.name for cell in self.cells))

    def predictions(self, rows: NDArray[np.bool_] | None = None) -> list[Predictions]:
        """Each seed's predictions, of the rows ``rows`` selects."""
        return [table.predictions(rows, self.label) for table in self.tables]

    def values(
        self, names: Sequence[str], settings: MetricSettings, rows: NDArray[np.bool_] | None = None
    ) -> dict[str, tuple[float, float, float]]:
        """Each metric's seed mean with its interval: ``(value, low, high)``."""
        return seed_averaged_values(self.predictions(rows), names, settings)

    def value(self, name: str, settings: MetricSettings) -> float:
        """A metric's seed mean alone, without the bootstrap of :meth:`values` (for the verdicts' words)."""
        return seed_mean(self.predictions(), name, settings)

    def mean_confidence(self, rows: NDArray[np.bool_] | None = None) -> float:
        """Mean confidence in the predicted option, averaged over seeds."""
        return float(np.mean([run.mean_confidence for run in self.predictions(rows)]))

    def change_to(
        self,
        other: Arm,
        names: Sequence[str],
        settings: MetricSettings,
        rows: NDArray[np.bool_] | None = None,
    ) -> dict[str, SeedAveragedChange]:
        """Each metric's seed-averaged change from this arm to ``other`` (paired by seed and item)."""
        bases, others = _paired(self.predictions(rows), other.predictions(rows))
        return {change.metric: change for change in seed_averaged_changes(bases, others, names, settings)}


def _paired(
    bases: list[Predictions], others: list[Predictions]
) -> tuple[list[Predictions], list[Predictions]]:
    """Two arms' predictions seed by seed: a model without seeds (one run) meets every seed of the other."""
    if len(bases) == 1 and len(others) > 1:
        bases = bases * len(others)
    if len(others) == 1 and len(bases) > 1:
        others = others * len(bases)
    return bases, others


def overconfidence_change(
    base: Arm, other: Arm, settings: MetricSettings, rows: NDArray[np.bool_] | None = None
) -> SeedAveragedChange:
    """The change of mean confidence minus accuracy (overconfidence), seed-averaged, items resampled.

    An item-level mean, so its bootstrap resamples the per-item differences (``conf - correct``) averaged
    over seeds.
    """
    bases, others = _paired(base.predictions(rows), other.predictions(rows))

    def gaps(runs: list[Predictions]) -> NDArray[np.float64]:
        return np.array([run.confidences - run.correct for run in runs])

    per_item = gaps(others) - gaps(bases)  # (seeds, items)
    per_seed = tuple(float(value) for value in per_item.mean(axis=1))
    delta, low, high = mean_interval(per_item, settings, bounds=(-1.0, 1.0))
    before = float(np.mean(gaps(bases)))
    return SeedAveragedChange("overconfidence", before, before + delta, delta, low, high, per_seed)


def mean_interval(
    per_item: NDArray[np.float64], settings: MetricSettings, bounds: tuple[float, float] = (0.0, 1.0)
) -> tuple[float, float, float]:
    """The mean of item-level values (rows: seeds, columns: the same items), with a paired interval.

    Each resample draws items once for every seed; the value is the mean over seeds and items.
    """
    values = np.atleast_2d(np.asarray(per_item, dtype=np.float64))
    item_means = values.mean(axis=0)
    generator = np.random.default_rng(settings.seed)
    n = len(item_means)
    draws = np.array([item_means[generator.integers(0, n, n)].mean() for _ in range(settings.n_resamples)])
    estimate = float(item_means.mean())
    low, high = recentred_interval(estimate, [draws], settings.level, bounds)
    return estimate, low, high


def temperature_scaled(arm: Arm, calibration: Arm) -> Arm:
    """``arm`` after temperature scaling fitted, seed by seed, on ``calibration``'s tables (held-out items).

    Raises:
        InputError: If the arms have different numbers of seeds, or items with different option counts.
    """
    if len(arm.tables) != len(calibration.tables):
        raise InputError("temperature scaling needs one calibration table per seed of the scaled arm.")
    scaled, temperatures = [], []
    for table, held_out in zip(arm.tables, calibration.tables, strict=True):
        fit_on = held_out.option_probabilities()
        apply_to = table.option_probabilities()
        if not (fit_on.option_mask.all() and apply_to.option_mask.all()):
            raise InputError("temperature scaling here needs items with the same number of options.")
        with warnings.catch_warnings():
            # A temperature at the search bound is a finding here (the note says so), not a failure.
            warnings.simplefilter("ignore", CalibrationWarning)
            scaler = TemperatureScaler().fit(probs=fit_on.probs, labels=fit_on.labels)
        temperatures.append(scaler.temperature_)
        probs = scaler.transform(probs=apply_to.probs)
        scaled.append(ProbabilityTable(table.ids, probs.tolist(), table.labels))
    note = "fitted temperature " + ", ".join(temperature_cell(value) for value in temperatures)
    cells = arm.cells + calibration.cells
    return Arm(f"{arm.label} + temperature scaling", cells, arm.table, tuple(scaled), note)
