"""`llmcal study`: bad input is refused in one line (exit 2) before any model loads or any file is written."""

from __future__ import annotations

import json
from dataclasses import replace

from llmcal.cli.app import main
from llmcal.runs.study import write_study_settings
from llmcal.scoring.models import PACKAGED_MODELS
from llmcal.study.settings import preset


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_doc_that_is_not_markdown_is_refused(tmp_path, capsys):
    assert main(["study", "--out", str(tmp_path / "s"), "--doc", str(tmp_path / "page.txt")]) == 2
    _one_line(capsys, "--doc", "ending in .md")
    assert not (tmp_path / "s").exists()


def test_a_directory_holding_a_study_with_other_settings_is_refused_before_any_cell(tmp_path, capsys):
    out = tmp_path / "s"
    write_study_settings(out, replace(preset("quick"), n_resamples=77).record())
    assert main(["study", "--out", str(out), "--quick"]) == 2
    _one_line(capsys, "holds a study started with other settings (settings.n_resamples 77 -> 100)")
    assert sorted(path.name for path in out.iterdir()) == ["study-settings.json"]
    assert json.loads((out / "study-settings.json").read_text())["settings"]["n_resamples"] == 77


def test_a_missing_packaged_model_names_the_install_command(tmp_path, capsys, monkeypatch):
    packaged = PACKAGED_MODELS["gemma-3-270m"]
    monkeypatch.setattr(type(packaged), "is_installed", lambda self: self is not packaged)
    assert main(["study", "--out", str(tmp_path / "s"), "--quick"]) == 2
    _one_line(capsys, "llmcal study needs", packaged.install)
    assert not (tmp_path / "s").exists()
