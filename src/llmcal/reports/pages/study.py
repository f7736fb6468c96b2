"""The page of ``llmcal study``: the verdict per claim, the figures, then what each cell cost."""

from __future__ import annotations

from llmcal.reports.cells import gib, seconds
from llmcal.reports.figures import figure_png
from llmcal.reports.pages.parts import Part, Section, escape, image, table
from llmcal.reports.study import FIGURE_CAPTIONS, study_figures
from llmcal.runs.kinds import RunOutput
from llmcal.runs.study import StudyResults

__all__ = ["study_sections"]


def study_sections(output: RunOutput, heading: str) -> list[Part]:
    """The verdicts, each figure, and the cells' costs (the page's own headings replace ``heading``)."""
    results: StudyResults = output.run
    rows = [
        [
            escape(v.claim),
            escape(v.paper),
            escape(v.paper_number),
            escape(v.measured),
            f"<b>{escape(v.verdict)}</b>",
            escape(v.why),
            escape(", ".join(v.cells)),
        ]
        for v in results.verdicts
    ]
    header = ["claim", "paper", "paper's number", "llmcal measured", "verdict", "why", "cells"]
    text = (
        f"<p>Preset <code>{escape(results.settings['name'])}</code>; cells under "
        f"<code>{escape(output.path)}/cells</code>; {seconds(results.seconds)} s of compute, peak "
        f"{gib(results.peak_rss_gib)} GiB.</p>"
    )
    sections: list[Part] = [
        Section(f"The papers' claims, decided: {output.path}", text + table(header, rows, text_columns=7))
    ]
    for name, figure in study_figures(results).items():
        sections.append(
            Section(
                FIGURE_CAPTIONS[name].split(":")[0].split(",")[0],
                image(figure_png(figure), name, FIGURE_CAPTIONS[name]),
            )
        )
    costs = [
        [escape(row["cell"]), escape(row["kind"]), seconds(row["seconds"]), gib(row["peak_rss_gib"])]
        for row in results.tables.get("cells", [])
    ]
    sections.append(
        Section(
            "What each cell cost",
            table(["cell", "kind", "seconds", "peak GiB so far"], costs, text_columns=2),
        )
    )
    return sections
