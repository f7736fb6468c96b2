"""The page of a fine-tuning or an alignment run: calibration before and after, the log, the settings."""

from __future__ import annotations

from llmcal.reports.cells import CALIBRATION_COLUMNS, calibration_cells, number
from llmcal.reports.pages.parts import (
    Part,
    Section,
    column_names,
    escape,
    settings_block,
    signed_cell,
    table,
)
from llmcal.runs.kinds import RunOutput, TrainingRun

__all__ = ["training_sections"]


def training_sections(output: RunOutput, heading: str) -> list[Part]:
    """A training run's one section."""
    return [Section(heading, _training_content(output.run))]


def _training_content(run: TrainingRun) -> str:
    results = run.results
    parts = []
    change = results.calibration_change()
    if results.before is not None and results.after is not None and change is not None:
        rows = [
            [stage, escape(row.n_items), *calibration_cells(row)]
            for stage, row in (("before", results.before), ("after", results.after))
        ]
        rows.append(
            ["change", ""] + [signed_cell(number(change[key], signed=True)) for key in CALIBRATION_COLUMNS]
        )
        parts += ["<h3>Before and after</h3>", table(["", "n", *column_names(CALIBRATION_COLUMNS)], rows)]
    if results.log:
        keys = results.log_columns
        rows = [
            [number(entry.get("epoch"))] + [number(entry.get(key)) for key in keys] for entry in results.log
        ]
        parts += ["<h3>Training log</h3>", table(["epoch", *(escape(key) for key in keys)], rows)]
    parts += ["<h3>Settings</h3>", settings_block(results.settings)]
    return "\n".join(parts)
