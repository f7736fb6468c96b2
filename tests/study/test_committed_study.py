"""docs/study.md is what the command writes from docs/study-run: a stale page or figure is a failing test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcal.reports.study import study_markdown
from llmcal.runs.study import read_study

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMAND = "llmcal study --out docs/study-run --doc docs/study.md"


def test_the_page_is_the_one_the_results_render():
    results = read_study(DOCS / "study-run")
    names = ["dose-response", "reliability-prevention", "reliability-restore", "detector"]
    page = study_markdown(results, figures="study-figures", names=names, study="study-run", command=COMMAND)
    assert page == (DOCS / "study.md").read_text(encoding="utf-8")
    for name in names:
        assert (DOCS / "study-figures" / f"{name}.png").is_file()


def test_every_cell_the_page_names_is_committed():
    results = read_study(DOCS / "study-run")
    for verdict in results.verdicts:
        for cell in verdict.cells:
            assert (DOCS / "study-run" / "cells" / cell / "cell.json").is_file(), cell


@pytest.mark.slow
def test_the_verdicts_are_recomputed_from_the_committed_cells(tmp_path):
    """All cells are there, so the study reruns nothing: it reads them and decides again (about 15 s)."""
    import shutil

    from llmcal.study.run import run_study
    from llmcal.study.settings import preset

    copy = tmp_path / "study-run"
    shutil.copytree(DOCS / "study-run", copy)
    stages: list[str] = []
    results = run_study(copy, preset("full"), stage=stages.append)
    assert not [
        stage for stage in stages if stage.startswith(("prevention-", "restore-", "detector-", "base-"))
    ]
    committed = json.loads((DOCS / "study-run" / "study.json").read_text(encoding="utf-8"))
    assert json.loads((copy / "study.json").read_text(encoding="utf-8")) == committed
    assert results.verdicts == read_study(DOCS / "study-run").verdicts
