"""``llmcal demo --real``: its results file and tables, and a small run of both parts on SmolLM2."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from llmcal.cli.tables import real_claims_tables
from llmcal.demo.real_claims import (
    ALIGNMENT_VARIANTS,
    PREVENTION_VARIANTS,
    AlignmentStory,
    PreventionStory,
    RealClaims,
    run_real_claims,
)
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.summary import CalibrationRow
from llmcal.runs.demo import DemoRow
from llmcal.runs.real_claims import (
    AlignmentClaims,
    DetectorCheck,
    PreventionClaims,
    RealClaimsResults,
    StepCost,
    read_real_claims,
    write_real_claims,
)
from llmcal.scoring.models import PACKAGED_MODELS

GROUPS = ("all", "known", "unknown")


def rows(variants):
    return [
        DemoRow(variant, group, CalibrationRow(10 + g, 0.5, 0.1 * g, 0.05, 0.4, 0.6))
        for variant in variants
        for g, group in enumerate(GROUPS)
    ]


def results() -> RealClaimsResults:
    changes = [
        MetricChange("m → DPO", "test", method, metric, 0.1, 0.2, 0.1, 0.05, 0.15, 1.0)
        for method in ("sum", "choice")
        for metric in ("ece", "sce")
    ]
    prevention = PreventionClaims(
        "smollm2-135m-instruct", {"gguf": {"file": "a.gguf"}}, {"n_train": 240},
        DetectorCheck(6.5, 0.8, 0.85, 0.7, 120, 80), rows(["base", "sft", "known-only sft"]),
    )  # fmt: skip
    alignment = AlignmentClaims(
        "gemma-3-270m", {}, {"n_pairs": 160}, changes, rows(["base", "aligned", "aligned + cft"]),
        [{"epoch": 1.0, "loss": 0.5}],
    )  # fmt: skip
    steps = [StepCost("smollm2-135m-instruct: LoRA fine-tuning, sft", 61.2, 1.61)]
    return RealClaimsResults(0, prevention, alignment, steps)


def test_real_claims_results_round_trip_with_and_without_each_part() -> None:
    full = results()
    for value in (
        full,
        RealClaimsResults(1, None, full.alignment, []),
        RealClaimsResults(2, full.prevention, None, []),
    ):
        assert RealClaimsResults.from_dict(json.loads(json.dumps(value.to_dict()))) == value


def test_the_real_claims_tables_fit_80_columns_and_carry_the_detector_and_costs() -> None:
    console = Console(width=80, record=True)
    for table in real_claims_tables(results()):
        console.print(table)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for variant in ("sft", "known-only sft", "aligned + cft"):
        assert any(line.lstrip().startswith(f"{variant} ") for line in text.splitlines()), variant
    assert "accuracy 0.800, TPR 0.850, TNR 0.700" in " ".join(text.split())
    assert "m → DPO" in text
    assert "61" in text
    assert "1.61" in text


def test_the_report_of_a_real_claims_directory_opens_with_its_figure_and_claims(tmp_path) -> None:
    from llmcal.reports.html import report_html
    from llmcal.runs.kinds import run_kind

    write_real_claims(tmp_path, results())
    assert run_kind(tmp_path) == "real-claims"
    html = report_html([tmp_path])
    headings = [part.split("</h2>")[0] for part in html.split("<h2>")[1:]]
    assert headings[0].startswith("The papers&#x27; claims on real LLMs")
    assert "Claim 1 (CogCalib)" in headings[1]
    assert "Claims 2 and 3" in headings[2]
    assert headings[-1] == "What each step cost"
    assert html.count("data:image/png;base64,") == 1  # the headline; no sub-runs were written here
    assert "accuracy 0.800, TPR 0.850, TNR 0.700" in html


@pytest.mark.real_model
def test_both_parts_run_on_smollm2_and_every_fine_tuning_moves_the_model(tmp_path) -> None:
    if not PACKAGED_MODELS["smollm2-135m-instruct"].is_installed():
        pytest.fail(f"install it: {PACKAGED_MODELS['smollm2-135m-instruct'].install}")
    claims = RealClaims(
        PreventionStory(n_train=16, n_calibration=32, n_test=16,
                        variants=(PREVENTION_VARIANTS[0], PREVENTION_VARIANTS[2])),
        # SmolLM2 stands in for the base model: the machinery is the same, and it loads in seconds.
        AlignmentStory(model="smollm2-135m-instruct", n_train=16, n_test=16, variants=ALIGNMENT_VARIANTS[:1]),
    )  # fmt: skip
    stages = []
    written = run_real_claims(tmp_path, claims, seed=0, n_resamples=20, stage=stages.append)
    assert read_real_claims(tmp_path) == written
    prevention, alignment = written.prevention, written.alignment
    assert prevention is not None
    assert alignment is not None
    assert [row.variant for row in prevention.rows if row.group == "all"] == ["base", "sft", "cogcalib-ls"]
    assert [row.variant for row in alignment.rows if row.group == "all"] == [
        "base",
        "aligned",
        "aligned + cft",
    ]
    detector = prevention.detector
    assert detector.n_known + detector.n_unknown == 16
    assert 0.0 <= detector.accuracy <= 1.0
    # Each fine-tuning changed the model: its test confidences differ from those it started from.
    confidence = {
        (r.variant, r.group): r.calibration.mean_confidence for r in prevention.rows + alignment.rows
    }
    assert confidence[("sft", "all")] != confidence[("base", "all")]
    assert confidence[("aligned", "all")] != confidence[("base", "all")]
    assert confidence[("aligned + cft", "all")] != confidence[("aligned", "all")]
    assert {change.method for change in alignment.comparison} == {"sum", "mean", "min", "choice"}
    assert [step.step for step in written.steps] == stages
    assert all(step.seconds >= 0 and step.peak_rss_gib > 0.1 for step in written.steps)
    assert (tmp_path / "alignment" / "comparison").is_dir()


def test_demo_real_without_a_packaged_model_exits_2_with_its_install_command(tmp_path, monkeypatch, capsys):
    import importlib.util

    from llmcal.cli.app import main

    real_find_spec = importlib.util.find_spec
    gemma = PACKAGED_MODELS["gemma-3-270m"]
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == gemma.module else real_find_spec(name, *a),
    )
    out = tmp_path / "real"
    assert main(["demo", "--real", "--out", str(out)]) == 2
    assert gemma.install in " ".join(capsys.readouterr().err.split())
    assert not out.exists()  # refused before any work
