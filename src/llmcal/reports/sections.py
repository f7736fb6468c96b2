"""How each kind of run directory is drawn: :data:`SECTIONS` maps every run kind to its page.

The kinds themselves are declared once, in :data:`llmcal.runs.RUN_KINDS`; this registry holds, under the
same names, the function that turns a directory read as its kind into the report's sections (a test
requires one for every kind). A page may name runs of other kinds inside its directory
(:class:`~llmcal.reports.pages.parts.SubRun`); :func:`run_sections` reads and draws each that is there, in
its place.
"""

from __future__ import annotations

from collections.abc import Callable

from llmcal.registry import Registry
from llmcal.reports.pages.comparison import comparison_sections
from llmcal.reports.pages.demo import demo_sections
from llmcal.reports.pages.eval import eval_sections
from llmcal.reports.pages.parts import Part, Section
from llmcal.reports.pages.recalibration import recalibration_sections
from llmcal.reports.pages.study import study_sections
from llmcal.reports.pages.training import training_sections
from llmcal.runs.kinds import RUN_KINDS, RunOutput, read_output

__all__ = ["SECTIONS", "SectionsOf", "run_sections"]

SectionsOf = Callable[[RunOutput, str], list[Part]]
"""A run kind's page: the run read as its kind and a heading to its parts, in order."""

SECTIONS: Registry[SectionsOf] = Registry("report page of run kind")
SECTIONS.add("demo", demo_sections)
SECTIONS.add("comparison", comparison_sections)
SECTIONS.add("eval", eval_sections)
SECTIONS.add("finetune", training_sections)
SECTIONS.add("align", training_sections)
SECTIONS.add("calibration", recalibration_sections)
SECTIONS.add("study", study_sections)


def run_sections(output: RunOutput, heading: str | None = None) -> list[Section]:
    """The sections of a run directory read as its kind, under ``heading`` (by default, its kind and path).

    Each :class:`~llmcal.reports.pages.parts.SubRun` of its page whose marker file is there is read and
    drawn in its place; one that is not is left out.

    Raises:
        InputError: If a run inside the directory is incomplete or not one llmcal wrote.
    """
    title = RUN_KINDS.get(output.kind).title
    sections: list[Section] = []
    for part in SECTIONS.get(output.kind)(output, heading or f"{title}: {output.path}"):
        if isinstance(part, Section):
            sections.append(part)
        elif (part.path / part.marker).is_file():
            sections += run_sections(read_output(part.path), part.heading)
    return sections
