"""One self-contained HTML report from llmcal output directories: tables, diagrams and the exact settings.

Every image is an inline PNG (``data:`` URI) and the styles are inline, so the file opens anywhere with
no network. Figures are drawn on their own Agg canvases and never touch pyplot's global state.

Each directory is read as its kind (:func:`llmcal.runs.read_output`) and drawn by that kind's page in
:data:`~llmcal.reports.sections.SECTIONS` (one module per kind in :mod:`llmcal.reports.pages`): a demo
(its variant table, the pretrained vs aligned comparison and the evaluations it ran), the papers' claims on
real LLMs, a comparison, an evaluation (also an lm-eval import), a fine-tuning or an alignment run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from llmcal import __version__
from llmcal.atomic import write_text_atomic
from llmcal.errors import InputError
from llmcal.reports.pages.parts import escape
from llmcal.reports.sections import SECTIONS, run_sections
from llmcal.runs.kinds import read_output

__all__ = ["SECTIONS", "report_html", "write_report"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { border-bottom: 2px solid #4C72B0; padding-bottom: .3rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8rem 0 1.2rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th { background: #f3f5f9; }
td.text, th.text { text-align: left; }
tr.section td { border-top: 2px solid #999; }
.ci { color: #777; font-size: .8rem; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
.story figure { margin: 0 0 1.5rem; }
figure { margin: 0; max-width: 100%; }
img { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #555; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .8rem; }
nav li { margin: .15rem 0; }
.up { color: #b23; } .down { color: #274; }
"""


def report_html(paths: Sequence[str | Path], *, title: str = "llmcal report") -> str:
    """The HTML of a report over ``paths`` (llmcal output directories), one section per run.

    Raises:
        InputError: If no path is given or one is not a recognised, complete llmcal output directory.
    """
    if not paths:
        raise InputError("No directories to report on.")
    sections = []
    for path in paths:
        sections += run_sections(read_output(path))
    anchors = [f"section-{index}" for index in range(len(sections))]
    contents = "".join(
        f'<li><a href="#{anchor}">{escape(heading)}</a></li>'
        for anchor, (heading, _) in zip(anchors, sections, strict=True)
    )
    body = "\n".join(
        f'<section id="{anchor}"><h2>{escape(heading)}</h2>\n{content}</section>'
        for anchor, (heading, content) in zip(anchors, sections, strict=True)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n<nav><ul>{contents}</ul></nav>\n{body}\n"
        f'<footer><p class="ci">llmcal {escape(__version__)}</p></footer>\n</body>\n</html>\n'
    )


def write_report(paths: Sequence[str | Path], out: str | Path, *, title: str = "llmcal report") -> Path:
    """Writes :func:`report_html` to ``out`` atomically and returns the path."""
    target = Path(out)
    write_text_atomic(target, report_html(paths, title=title))
    return target
