from __future__ import annotations

import json

import pytest

from llmcal.cli.app import main
from llmcal.demo import VARIANTS, run_demo


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")
def test_demo_reports_every_variant_by_group_and_reuses_the_world(tmp_path):
    cache = tmp_path / "cache"
    first = run_demo(tmp_path / "out1", preset_name="micro", cache_dir=cache, n_resamples=20)
    assert not first["world"]["cached"]
    variants = {row["variant"] for row in first["rows"]}
    pretrained = {"pretrained sum", "pretrained mean", "pretrained min", "pretrained sum + temperature"}
    assert variants == pretrained | {variant.name for variant in VARIANTS}
    for variant in variants:
        groups = {row["group"]: row for row in first["rows"] if row["variant"] == variant}
        assert set(groups) == {"all", "known", "unknown"}
        assert groups["known"]["n_items"] + groups["unknown"]["n_items"] == groups["all"]["n_items"]
        assert groups["known"]["accuracy"] > groups["unknown"]["accuracy"]
    assert first["temperature"] > 0
    assert json.loads((tmp_path / "out1" / "demo.json").read_text()) == first
    second = run_demo(tmp_path / "out2", preset_name="micro", cache_dir=cache, n_resamples=20)
    assert second["world"]["cached"]
    assert second["rows"] == first["rows"]  # deterministic given the seed


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")
def test_demo_and_world_commands(tmp_path, capsys):
    assert (
        main(
            ["demo", "--preset", "micro", "--out", str(tmp_path / "demo"), "--cache-dir", str(tmp_path / "c")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "calibration per variant" in out
    assert "recalls" in out
    assert main(["world", "build", "--preset", "micro", "--out", str(tmp_path / "w")]) == 0
    assert "pretraining passes" in capsys.readouterr().out
    assert (tmp_path / "w" / "model" / "model.safetensors").exists()
    assert main(["demo", "--preset", "huge", "--out", str(tmp_path / "x")]) == 2
