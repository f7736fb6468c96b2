"""The parts every page of the HTML report is built from: escaping, tables, images, settings, values.

A page (one per run kind, in this package) is a list of :class:`Section` and :class:`SubRun`: a section is
a heading and its HTML; a sub-run is a directory the run wrote with a run of another kind in it (a demo's
evaluations), drawn as that kind in its place, if it is there. Cells are HTML already escaped here, so a
page never escapes twice or forgets to.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from llmcal.metrics.summary import MetricValue
from llmcal.reports.cells import CALIBRATION_COLUMNS, calibration_cells, column_title, interval, number
from llmcal.runs.demo import DemoRow
from llmcal.runs.kinds import settings_text

__all__ = [
    "Part",
    "Section",
    "SubRun",
    "calibration_table",
    "column_names",
    "escape",
    "image",
    "settings_block",
    "signed_cell",
    "table",
    "with_ci",
]


class Section(NamedTuple):
    """One section of the report: its heading (text) and its content (HTML)."""

    heading: str
    content: str


class SubRun(NamedTuple):
    """A run of its own inside a run's directory, drawn as its kind under ``heading`` where it finished.

    Attributes:
        path: The directory.
        heading: The heading of its (first) section.
        marker: The file whose presence says the run is there and finished (``run.json``, ...).
    """

    path: Path
    heading: str
    marker: str


Part = Section | SubRun
"""What a page is made of, in order."""


def escape(value: Any) -> str:
    """``value`` as text, safe in HTML element text and attribute values."""
    return html.escape(str(value), quote=True)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, text_columns: int = 1) -> str:
    """An HTML table; cells are already-escaped HTML, the first ``text_columns`` columns left-aligned."""

    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(
            f'<{tag} class="text">{value}</{tag}>' if index < text_columns else f"<{tag}>{value}</{tag}>"
            for index, value in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"


def image(png: bytes, alt: str, caption: str = "") -> str:
    """A figure with an inline PNG (a ``data:`` URI, so the page needs no other file) and its caption."""
    encoded = base64.b64encode(png).decode("ascii")
    figcaption = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{encoded}" alt="{escape(alt)}">{figcaption}</figure>'


def settings_block(settings: Any) -> str:
    """A run's exact settings (their JSON form), preformatted."""
    text = settings_text(settings)
    return f"<pre>{html.escape(text, quote=False)}</pre>"  # element text: quotes may stay as they are


def with_ci(metric: MetricValue | None) -> str:
    """A metric's value with its bootstrap interval beside it, small and grey; empty where not computed."""
    if metric is None:
        return ""
    value = number(metric.value)
    if np.isnan(metric.ci_low):
        return value
    return f'{value} <span class="ci">{interval(metric.ci_low, metric.ci_high)}</span>'


def signed_cell(text: str) -> str:
    """A signed change, coloured by its sign (up is red: errors growing is the usual bad news)."""
    css = "up" if text.startswith("+") and text.strip("+0.") else "down" if text.startswith("-") else ""
    return f'<span class="{css}">{escape(text)}</span>'


def column_names(columns: Sequence[str]) -> list[str]:
    """The headings of metric or field columns."""
    return [column_title(column) for column in columns]


def calibration_table(rows: Sequence[DemoRow], group: str) -> str:
    """The calibration of each variant on each group of items (``group`` names the groups' column)."""
    cells = [
        [
            escape(row.variant),
            escape(row.group),
            escape(row.calibration.n_items),
            *calibration_cells(row.calibration),
        ]
        for row in rows
    ]
    return table(["variant", group, "n", *column_names(CALIBRATION_COLUMNS)], cells, text_columns=2)
