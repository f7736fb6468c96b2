"""`llmcal study --quick` on the two packaged LLMs, end to end: what CI runs to prove the study's pipeline."""

from __future__ import annotations

import json

import pytest

from llmcal.cli.app import main
from llmcal.runs.study import read_study
from llmcal.scoring.models import PACKAGED_MODELS
from llmcal.study.settings import preset


@pytest.mark.real_model
@pytest.mark.runs_long(600)
def test_the_quick_study_decides_every_claim_and_a_rerun_reads_it_back(tmp_path, capsys):
    for name in ("smollm2-135m-instruct", "gemma-3-270m"):
        if not PACKAGED_MODELS[name].is_installed():
            pytest.fail(f"install it: {PACKAGED_MODELS[name].install}")
    out, doc = tmp_path / "study", tmp_path / "docs" / "study.md"
    assert main(["study", "--quick", "--out", str(out), "--doc", str(doc)]) == 0
    results = read_study(out)
    assert results.settings == json.loads(json.dumps(preset("quick").record()))
    assert len(results.verdicts) >= 17
    assert {verdict.verdict for verdict in results.verdicts} <= {
        "reproduced",
        "partly",
        "not reproduced",
        "undecided",
    }
    # Every fine-tuning moved its model: a fine-tuned model's test confidences differ from the base model's.
    rows = {
        (row["loss"], row["capacity"], row["epochs"], row["items"]): row
        for row in results.tables["dose_response"]
    }
    assert (
        rows[("sft", "full", 2, "all")]["mean_confidence"] != rows[("base", "", 0, "all")]["mean_confidence"]
    )
    restore = {row["model"]: row for row in results.tables["restore"]}
    assert restore["DPO"]["mean_confidence"] != restore["base"]["mean_confidence"]
    page = doc.read_text()
    assert "| claim | paper |" in page
    assert f"]({'../study'}/cells/" in page
    assert (doc.parent / "study-figures" / "dose-response.png").is_file()
    capsys.readouterr()
    # A rerun runs no cell: it reads them all back and writes the same verdicts.
    assert main(["study", "--quick", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "prevention-" not in err
    assert "restore-" not in err
    assert read_study(out).verdicts == results.verdicts
