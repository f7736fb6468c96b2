"""The page of a comparison: the headline changes with their intervals, what was not compared, the plot."""

from __future__ import annotations

from pathlib import Path

from llmcal.reports.cells import HEADLINE_METRICS, change_cells, change_columns, uncompared_line
from llmcal.reports.pages.parts import Part, Section, escape, image, settings_block, signed_cell, table
from llmcal.runs.comparison import COMPARISON_NAME, COMPARISON_PLOT_NAME, ComparisonResults
from llmcal.runs.kinds import RunOutput

__all__ = ["comparison_sections"]


def comparison_sections(output: RunOutput, heading: str) -> list[Part]:
    """A comparison's one section."""
    return [Section(heading, _comparison_content(output.path, output.run))]


def _comparison_content(path: Path, results: ComparisonResults) -> str:
    parts = [
        "<p>delta = aligned − base with a paired bootstrap interval (items resampled once for both runs); "
        "CR = delta / base (Oh &amp; Hwang's change rate). Every metric is in "
        f"<code>{escape(path / COMPARISON_NAME)}</code> and <code>comparison.md</code>.</p>",
        _changes_table(results),
    ]
    if results.uncompared:
        items = "".join(
            f"<li>{escape(f'{item.pair}: ' if item.pair else '')}{escape(uncompared_line(item))}</li>"
            for item in results.uncompared
        )
        parts.append(
            "<p>Not compared: no item has a confidence by these methods in both runs of the pair.</p>"
            f"<ul>{items}</ul>"
        )
    plot = path / COMPARISON_PLOT_NAME
    if plot.is_file():
        parts.append(
            image(plot.read_bytes(), "change of each metric with its interval", "Δ per task / method")
        )
    parts += ["<h3>Settings</h3>", settings_block(results.setup)]
    return "\n".join(parts)


def _changes_table(results: ComparisonResults) -> str:
    """The headline metrics' changes, each pair's rows, the delta coloured by its sign."""
    ranked = results.ranked
    rows = []
    for change in results.changes:
        if change.metric not in HEADLINE_METRICS:
            continue
        text = change_cells(change, ranked=ranked)
        cells = [escape(cell) for cell in text]
        cells[5], cells[6] = signed_cell(text[5]), f'<span class="ci">{escape(text[6])}</span>'  # delta, CI
        rows.append([escape(change.pair), *cells])
    return table(["pair", *change_columns(results.settings.level, ranked=ranked)], rows, text_columns=4)
