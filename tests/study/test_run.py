"""The whole study on the tiny model: every part, every claim, resumed, refused, rendered."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from llmcal.errors import InputError
from llmcal.runs.study import read_study
from llmcal.study.run import run_study
from tests.study.conftest import micro_study_settings

pytestmark = pytest.mark.slow  # ~30 tiny fine-tunings and alignments: about a minute on 2 cores

VERDICTS = {"reproduced", "partly", "not reproduced", "undecided"}


def _run(out, settings, stages=None):
    from llmcal.reports.study import render_study

    return run_study(
        out, settings, stage=(stages or []).append, render=lambda where, made: render_study(where, made)
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_model_dir):
    """One finished micro study (module-scoped: it trains ~30 tiny models)."""
    settings = micro_study_settings(tiny_model_dir)
    out = tmp_path_factory.mktemp("study")
    stages: list[str] = []
    results = _run(out, settings, stages)
    return out, settings, results, stages


def test_every_claim_gets_a_verdict_from_cells_that_exist(finished):
    out, _, results, _ = finished
    ids = [verdict.id for verdict in results.verdicts]
    assert len(ids) == len(set(ids))
    for expected in (
        "knowledge-ratio", "overconfidence-grows-lora-r8", "overconfidence-grows-full", "cogcalib-ls-vs-sft",
        "cogcalib-mbls-vs-sft", "cogcalib-ecp-vs-sft", "cogcalib-ls-vs-sft-full", "selective-vs-plain-ls",
        "cogcalib-vs-temperature-scaling", "alignment-sum-ece", "alignment-min-ece", "alignment-choice-sce",
        "dpo-collapse", "cft-restores", "cft-on-its-training-split", "cft-vs-temperature-scaling",
        "rcft-trades",
    ):  # fmt: skip
        assert expected in ids
    assert any(name.startswith("detector-") for name in ids)
    for verdict in results.verdicts:
        assert verdict.verdict in VERDICTS
        assert verdict.cells
        for cell in verdict.cells:
            assert (out / "cells" / cell / "cell.json").is_file(), cell
        if not math.isnan(verdict.estimate):
            assert verdict.low <= verdict.estimate <= verdict.high


def test_the_selection_reads_the_calibration_split_and_the_chosen_values_are_run_under_every_seed(finished):
    out, _settings, results, _ = finished
    selection = json.loads((out / "cells" / "selection-prevention" / "cell.json").read_text())
    chosen = selection["values"]["chosen"]
    assert chosen["cogcalib-ls"]["value"] in (0.1, 0.5)
    tried = selection["values"]["candidates"]["cogcalib-ls"]
    assert {row["value"] for row in tried} == {0.1, 0.5}
    value = chosen["cogcalib-ls"]["value"]
    assert (out / "cells" / f"prevention-cogcalib-ls-alpha{value:g}-lora-r8-seed1" / "cell.json").is_file()
    rejected = 0.5 if value == 0.1 else 0.1
    assert not (out / "cells" / f"prevention-cogcalib-ls-alpha{rejected:g}-lora-r8-seed1").exists()
    # The rows of the selection table are the candidates with the calibration numbers they were chosen by.
    kept = [row for row in results.tables["selection_prevention"] if row["kept"]]
    assert {row["loss"] for row in kept} == {"sft", "ls", "cogcalib-ls", "cogcalib-mbls", "cogcalib-ecp"}


def test_a_rerun_reads_every_cell_back_and_writes_the_same_verdicts(finished):
    out, settings, results, _ = finished
    stages: list[str] = []
    again = _run(out, settings, stages)
    assert not [
        stage for stage in stages if stage.startswith(("prevention-", "restore-", "base-", "detector-"))
    ]
    assert again.verdicts == results.verdicts
    assert read_study(out).verdicts == results.verdicts


def test_a_rerun_with_other_settings_is_refused_before_any_work(finished):
    out, settings, _, _ = finished
    before = (out / "study.json").read_bytes()
    with pytest.raises(InputError, match="other settings"):
        _run(out, replace(settings, n_resamples=60))
    assert (out / "study.json").read_bytes() == before


def test_the_page_names_every_verdict_and_its_cells_and_the_figures_exist(finished):
    out, _, results, _ = finished
    page = (out / "study.md").read_text()
    for verdict in results.verdicts:
        assert f"**{verdict.verdict}**" in page
        for cell in verdict.cells:
            assert f"(./cells/{cell}/cell.json)" in page
    for name in ("dose-response", "reliability-prevention", "reliability-restore", "detector"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
        assert f"(figures/{name}.png)" in page


def test_the_report_command_draws_a_study_directory(finished, tmp_path):
    from llmcal.cli.app import main

    out, *_ = finished
    assert main(["report", str(out), "--out", str(tmp_path / "report.html")]) == 0
    html = (tmp_path / "report.html").read_text()
    assert "The papers&#x27; claims, decided" in html or "The papers' claims, decided" in html
    assert html.count("data:image/png") >= 4
