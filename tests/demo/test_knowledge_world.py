from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from llmcal.cli.app import main
from llmcal.demo import VARIANTS, DemoSettings, run_demo

from ..headless_browser import dump_dom, requires_chromium, screenshot


@pytest.fixture(scope="module")
def micro_demo(tmp_path_factory):
    """One run of the micro demo (no real model): its output directory, world cache and results."""
    import warnings

    from llmcal.errors import CalibrationWarning

    root = tmp_path_factory.mktemp("demo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        results = run_demo(root / "out1", DemoSettings("micro", cache_dir=root / "cache", n_resamples=20))
    return root, results.to_dict()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")
def test_demo_reports_every_variant_by_group_and_reuses_the_world(micro_demo):
    tmp_path, first = micro_demo
    cache = tmp_path / "cache"
    assert not first["world"]["cached"]
    variants = {row["variant"] for row in first["rows"]}
    pretrained = {"pretrained sum", "pretrained mean", "pretrained min", "pretrained sum + temperature"}
    aligned = {"aligned sum", "aligned mean", "aligned min"}
    assert variants == pretrained | aligned | {variant.name for variant in VARIANTS}
    for variant in variants:
        groups = {row["group"]: row for row in first["rows"] if row["variant"] == variant}
        assert set(groups) == {"all", "known", "unknown"}
        assert groups["known"]["n_items"] + groups["unknown"]["n_items"] == groups["all"]["n_items"]
        assert groups["known"]["accuracy"] > groups["unknown"]["accuracy"]
    assert first["temperature"] > 0
    # The comparison of pretrained and aligned models matches the rows computed from the same records.
    rows = {(row["variant"], row["group"]): row for row in first["rows"]}
    changes = {(c["method"], c["metric"]): c for c in first["comparison"]}
    assert {method for method, _ in changes} == {"sum", "mean", "min"}
    for method in ("sum", "mean", "min"):
        for metric in ("accuracy", "ece", "sce"):
            change = changes[(method, metric)]
            assert change["base"] == pytest.approx(rows[(f"pretrained {method}", "all")][metric])
            assert change["aligned"] == pytest.approx(rows[(f"aligned {method}", "all")][metric])
            assert change["delta_low"] <= change["delta"] <= change["delta_high"]
    assert first["alignment"]["n_pairs"] > 0
    for name in ("comparison.json", "comparison.md", "comparison.png"):
        assert (tmp_path / "out1" / "comparison" / name).stat().st_size > 0
    report = (tmp_path / "out1" / "report.html").read_text()
    assert "Demo: pretrained vs aligned (DPO)" in report
    assert "Demo evaluation: aligned model on the test people" in report
    assert json.loads((tmp_path / "out1" / "demo.json").read_text()) == first
    # The second run reuses the world and measures the pretrained model exactly as the first did.
    settings = DemoSettings("micro", cache_dir=cache, n_resamples=20, variants=(), align=False)
    second = run_demo(tmp_path / "out2", settings).to_dict()
    assert second["world"]["cached"]
    assert second["rows"] == [row for row in first["rows"] if row["variant"].startswith("pretrained")]
    assert second["comparison"] == []


_STORY = (
    "ECE and accuracy per variant, known vs unknown people",
    "pretrained vs aligned (DPO), accuracy and ECE",
)


@pytest.mark.slow
def test_the_demo_report_leads_with_the_story_in_figures_and_the_tables_follow(micro_demo):
    tmp_path, _ = micro_demo
    page = (tmp_path / "out1" / "report.html").read_text()
    first_table = page.index("<table>")
    for alt in _STORY:
        assert page.index(f'alt="{alt}') < first_table, alt
    # The 50-odd-row variant table comes in its own section, after every story figure.
    assert page.index("Knowledge world: calibration per variant on the test people</h2>") > page.rindex(
        f'alt="{_STORY[-1]}'
    )


@pytest.mark.slow
@requires_chromium
def test_the_demo_report_renders_in_headless_chromium_with_every_figure(micro_demo, tmp_path):
    """What a reader of ``llmcal demo``'s report sees: every figure decoded and drawn."""
    import matplotlib.image
    import numpy as np

    root, _ = micro_demo
    page = root / "out1" / "report.html"
    dom = dump_dom(page)
    alts = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="([^"]+)"', dom)
    for expected in (*_STORY, "change of each metric with its interval"):
        assert any(alt.startswith(expected) for alt in alts), expected
    # A reliability diagram per confidence method of each demo evaluation (pretrained and aligned).
    assert sum(alt.startswith("reliability diagram test ") for alt in alts) >= 6, alts
    pixels = matplotlib.image.imread(screenshot(page, tmp_path / "demo.png", height=2400))[..., :3]
    # The story's bars (#4C72B0 known, #DD8452 unknown) are drawn near the top of the page.
    for colour in ((0x4C, 0x72, 0xB0), (0xDD, 0x84, 0x52)):
        assert np.all(np.abs(pixels - np.array(colour) / 255) < 0.03, axis=-1).sum() > 2000, colour


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")
def test_demo_and_world_commands(tmp_path, capsys):
    assert (
        main(
            [
                "demo",
                "--preset",
                "micro",
                "--out",
                str(tmp_path / "demo"),
                "--cache-dir",
                str(tmp_path / "c"),
                "--n-resamples",
                "20",
                "--real-model",
                "none",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "calibration per variant" in out
    assert "pretrained → aligned (DPO)" in out
    assert "recalls" in out
    assert main(["world", "build", "--preset", "micro", "--out", str(tmp_path / "w")]) == 0
    assert "pretraining passes" in capsys.readouterr().out
    assert (tmp_path / "w" / "model" / "model.safetensors").exists()
    assert main(["demo", "--preset", "huge", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.slow
def test_a_fresh_demo_prints_no_warning(tmp_path):
    # A new process, as a user runs it: transformers' warn-once messages and Python's once-per-location
    # warnings have not been used up by other tests.
    import sys

    environment = {**os.environ, "LLMCAL_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "llmcal.cli.app", "demo", "--preset", "micro", "--out",
                          str(tmp_path / "demo"), "--n-resamples", "20", "--real-model", "none"],
                         capture_output=True, text=True, timeout=600, env=environment)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    output = run.stdout + run.stderr
    for marker in ("Warning", "warning", "deprecated", "[transformers]"):
        assert marker not in output, output


def test_demo_settings_take_the_resamples_of_their_schedule_unless_given():
    from llmcal.demo import SCHEDULES, DemoSchedule

    assert DemoSettings("quick").schedule == SCHEDULES["quick"]
    assert DemoSettings("quick").resamples == SCHEDULES["quick"].n_resamples == 200
    assert DemoSettings("quick", n_resamples=7).resamples == 7
    assert DemoSettings("unlisted").schedule == DemoSchedule()
