"""The report's pages: one per run kind, found through one registry; shared parts; figures off the core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import llmcal.reports.sections as sections_module
from llmcal import InputError
from llmcal.registry import Registry
from llmcal.reports.html import SECTIONS
from llmcal.reports.pages.parts import Section, SubRun, settings_block, signed_cell, table
from llmcal.reports.sections import run_sections
from llmcal.runs.kinds import RUN_KINDS, RunKind, RunOutput, read_output

PREVIOUS = Path(__file__).parents[1] / "golden" / "previous-version"
REPORTS = Path(__file__).parents[2] / "src" / "llmcal" / "reports"


def test_every_run_kind_has_a_page_under_its_name():
    assert sorted(SECTIONS.names()) == sorted(RUN_KINDS.names())


def test_a_kind_without_a_page_fails_loudly_naming_it(monkeypatch):
    kinds: Registry[RunKind] = Registry("run kind")
    for name in RUN_KINDS.names():
        kinds.add(name, RUN_KINDS.get(name))
    kinds.add("probe", RunKind("Probe", lambda path: None))
    monkeypatch.setattr(sections_module, "RUN_KINDS", kinds)
    with pytest.raises(InputError, match=r"Unknown report page of run kind 'probe'"):
        run_sections(RunOutput(PREVIOUS, "probe", None))


def test_sub_runs_are_drawn_in_place_where_they_are_and_left_out_where_not():
    """The previous version's demo holds its comparison but none of the evaluations a demo names."""
    headings = [section.heading for section in run_sections(read_output(PREVIOUS))]
    assert headings[0] == f"Demo: {PREVIOUS}"
    assert "Demo: pretrained vs aligned (DPO)" in headings
    assert not any(heading.startswith("Demo evaluation") for heading in headings)
    demo_page = SECTIONS.get("demo")(read_output(PREVIOUS), "unused")
    sub_runs = [part for part in demo_page if isinstance(part, SubRun)]
    assert [part.path.name for part in sub_runs] == ["comparison", "pretrained-test", "aligned-test"]
    assert all(isinstance(section, Section) for section in run_sections(read_output(PREVIOUS)))


def test_shared_parts_escape_and_align_their_cells():
    assert table(["a", "b"], [["x", "1"]]) == (
        '<table><thead><tr><th class="text">a</th><th>b</th></tr></thead>'
        '<tbody><tr><td class="text">x</td><td>1</td></tr></tbody></table>'
    )
    assert settings_block({"b": Path("p"), "a": "<é>"}) == '<pre>{\n  "a": "&lt;é&gt;",\n  "b": "p"\n}</pre>'
    assert signed_cell("+0.000") == '<span class="">+0.000</span>'
    assert signed_cell("+0.010") == '<span class="up">+0.010</span>'
    assert signed_cell("-0.010") == '<span class="down">-0.010</span>'


def test_the_core_writes_bytes_and_reports_own_the_figures(tmp_path):
    from matplotlib.figure import Figure

    import llmcal.atomic
    from llmcal.reports.figures import figure_png, save_figure_atomic

    assert "matplotlib" not in Path(llmcal.atomic.__file__).read_text()
    assert not hasattr(llmcal.atomic, "figure_png")
    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1])
    save_figure_atomic(figure, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes() == figure_png(figure)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [path.name for path in tmp_path.iterdir()] == ["f.png"]  # no temporary left


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


@pytest.mark.parametrize("module", sorted(REPORTS.rglob("*.py")), ids=lambda path: path.name)
def test_report_modules_stay_small_and_leave_json_to_runs(module):
    """Each page is a small renderer: no module over 400 lines, no function over 60, no raw JSON."""
    text = module.read_text()
    tree = ast.parse(text)
    assert len(text.splitlines()) <= 400
    for function in _functions(tree):
        assert function.end_lineno is not None
        assert function.end_lineno - function.lineno + 1 <= 60, function.name
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "json" not in imported
