"""``llmcal demo --real``: the full study's strongest contrasts on one seed, by the study's pipeline."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from llmcal.cli.app import main
from llmcal.scoring.models import PACKAGED_MODELS
from llmcal.study.settings import Capacity, demo_settings, preset
from tests.study.conftest import MICRO_SPLITS

# What the demo changes from the full study, per part; every other field must be the full study's, so that
# each demo cell has the spec (and so the numbers) of the full study's cell of the same seed.
DEMO_CHANGES = {
    "prevention": {"seeds", "candidates", "capacities", "knowledge_only"},
    "detector": {"seeds", "style_adaptation_items"},
    "restore": {"seeds", "candidates"},
}


@pytest.mark.parametrize("seed", [0, 7])
def test_the_demo_is_the_full_study_narrowed_to_its_strongest_contrasts_on_one_seed(seed):
    demo, full = demo_settings(seed), preset("full")
    for part, changed in DEMO_CHANGES.items():
        ours, theirs = asdict(getattr(demo, part)), asdict(getattr(full, part))
        assert {field for field in ours if ours[field] != theirs[field]} == changed, part
        assert ours["seeds"] == [seed] or ours["seeds"] == (seed,)
    assert demo.prevention.capacities == (full.prevention.capacities[-1],)  # full fine-tuning
    assert demo.prevention.capacities[0].full
    assert [(c.loss, c.values) for c in demo.prevention.candidates] == [("sft", ()), ("cogcalib-ls", (0.1,))]
    # cogcalib-ls at the strength the full study chose on its calibration split (docs/study-run)
    assert demo.detector.style_adaptation_items == 0  # the detector reads the base cells only: no extra run
    assert [c.loss for c in demo.restore.candidates] == ["cft"]
    for name in ("n_resamples", "n_bins", "split_seed"):
        assert getattr(demo, name) == getattr(full, name)


def test_the_full_study_chose_the_strength_the_demo_runs():
    committed = Path(__file__).parents[2] / "docs" / "study-run" / "cells" / "selection-prevention"
    chosen = json.loads((committed / "cell.json").read_text())["values"]["chosen"]["cogcalib-ls"]
    ran = demo_settings(0).prevention.candidates[1]
    assert (chosen["parameter"], chosen["value"]) == (ran.parameter, ran.values[0])


@pytest.mark.parametrize(
    "option", [["--quick"], ["--preset", "small"], ["--real-model", "gemma-3-270m"], ["--real-items", "50"]]
)
def test_knowledge_world_options_are_refused_with_real_before_anything_is_written(tmp_path, capsys, option):
    out = tmp_path / "real"
    assert main(["demo", "--real", "--out", str(out), *option]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{option[0]} belongs to the knowledge-world demo" in err
    assert "takes --out, --seed and --n-resamples" in err
    assert not out.exists()


def test_two_world_options_are_named_together(tmp_path, capsys):
    out = tmp_path / "real"
    assert main(["demo", "--real", "--quick", "--real-items", "50", "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--quick, --real-items belong to the knowledge-world demo" in err


def test_too_few_resamples_name_the_flag_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "real"
    assert main(["demo", "--real", "--n-resamples", "3", "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--n-resamples 3: llmcal demo --real needs at least 10" in err
    assert not out.exists()


def test_a_missing_packaged_model_exits_2_with_its_install_command(tmp_path, monkeypatch, capsys):
    gemma = PACKAGED_MODELS["gemma-3-270m"]
    monkeypatch.setattr(type(gemma), "is_installed", lambda self: self is not gemma)
    out = tmp_path / "real"
    assert main(["demo", "--real", "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "llmcal demo --real needs" in err
    assert gemma.install in err
    assert not out.exists()  # refused before any work


@pytest.mark.slow  # six tiny fine-tunings and alignments: ~20 s on 2 cores
def test_demo_real_writes_its_contrasts_and_a_report(tmp_path, monkeypatch, capsys, tiny_model_dir):
    def tiny_demo(seed: int):
        settings = demo_settings(seed)
        return replace(
            settings,
            prevention=replace(
                settings.prevention, model=tiny_model_dir, splits=MICRO_SPLITS, epochs=(1, 2),
                capacities=(Capacity("full", 0, 1e-3),),
            ),
            detector=replace(settings.detector, models=(tiny_model_dir,), splits=MICRO_SPLITS),
            restore=replace(
                settings.restore, model=tiny_model_dir, splits=MICRO_SPLITS, dpo_epochs=1, epochs=1
            ),
        )  # fmt: skip

    monkeypatch.setattr("llmcal.study.settings.demo_settings", tiny_demo)
    out = tmp_path / ("a-directory-name-longer-than-a-terminal-line-" * 2) / "real"  # paths print unbroken
    assert main(["demo", "--real", "--seed", "3", "--n-resamples", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    study = json.loads((out / "study.json").read_text())
    assert study["settings"]["name"] == "demo"
    assert study["settings"]["n_resamples"] == 20
    assert study["settings"]["prevention"]["seeds"] == [3]
    ids = [verdict["id"] for verdict in study["verdicts"]]
    for expected in (
        "overconfidence-grows-full", "cogcalib-ls-vs-sft", "cogcalib-vs-temperature-scaling", "dpo-collapse",
        "alignment-choice-sce", "cft-restores", "cft-on-its-training-split", "cft-vs-temperature-scaling",
    ):  # fmt: skip
        assert expected in ids
        assert f"  {expected}: " in printed
    assert not {"knowledge-ratio", "rcft-trades", "selective-vs-plain-ls", "cogcalib-mbls-vs-sft"} & set(ids)
    assert sorted(path.name for path in (out / "cells").iterdir() if "adapted" in path.name) == []
    assert (out / "report.html").is_file()
    assert (out / "study.md").read_text().count("llmcal demo --real --seed 3") >= 1
    assert f"{out}/report.html in " in printed  # whole, however long the path
