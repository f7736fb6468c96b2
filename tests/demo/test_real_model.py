"""The demo's real-model part: its results file, tables and headline figure, and a run on SmolLM2."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from rich.console import Console

from llmcal.cli.tables import real_model_tables
from llmcal.demo import DemoSettings, run_demo
from llmcal.demo.real_model import REAL_MODEL_METHODS, RealModelStory
from llmcal.metrics.summary import CalibrationRow
from llmcal.reports.headline import demo_story_figures
from llmcal.runs.demo import DemoResults, DemoRow, RealModelResults
from llmcal.scoring.models import PACKAGED_MODELS

STRATA = ["1466–1.2e5", "1.5e5–2.3e6"]


def real_results() -> RealModelResults:
    rows = [
        DemoRow(variant, group, CalibrationRow(10, 0.5 + 0.1 * g, 0.2, 0.1, 0.6, 0.8 - 0.1 * t))
        for method in REAL_MODEL_METHODS
        for t, variant in enumerate((method, f"{method} + temperature"))
        for g, group in enumerate(["all", *STRATA])
    ]
    temperatures = {method: 1.5 for method in REAL_MODEL_METHODS}
    source = {"gguf": {"file": "/x/m.gguf", "sha256": "ab", "quantization": "Q4_1", "architecture": "llama"}}
    return RealModelResults("smollm2-135m-instruct", source, "facts", 5, 20, "popularity", STRATA,
                            temperatures, rows)  # fmt: skip


def demo_results(real: RealModelResults | None) -> DemoResults:
    world_rows = [
        DemoRow(variant, group, CalibrationRow(10, 0.5, ece, 0.1, 0.6, 0.7))
        for variant in ("pretrained sum", "pretrained mean", "sft")
        for group, ece in (("all", 0.1), ("known", 0.05), ("unknown", 0.3))
    ]
    return DemoResults("micro", 0, {}, {}, 1.2, world_rows, {}, [], real)


def test_demo_results_round_trip_with_and_without_the_real_model_part() -> None:
    for real in (real_results(), None):
        results = demo_results(real)
        assert DemoResults.from_dict(json.loads(json.dumps(results.to_dict()))) == results
    assert "real_model" not in demo_results(None).to_dict()  # as demo.json was before that part


def test_the_real_model_tables_show_each_method_and_stratum_within_80_columns() -> None:
    console = Console(width=80, record=True)
    for table in real_model_tables(real_results()):
        console.print(table)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text  # nothing truncated
    lines = text.splitlines()
    for method in REAL_MODEL_METHODS:
        assert any(line.split()[:1] == [method] for line in lines), method
    for label in STRATA:
        assert any(line.split()[:1] == [label] for line in lines), label


def test_a_temperature_at_the_search_bound_reads_as_a_bound_not_a_value() -> None:
    real = real_results()
    at_bound = replace(real, temperatures={**real.temperatures, "choice": 20.0})
    texts = []
    for results in (real, at_bound):
        console = Console(width=80, record=True)
        console.print(real_model_tables(results)[0])
        texts.append(console.export_text())
    assert "1.500" in texts[0]
    assert ">=20" not in texts[0]
    assert "search bound" not in texts[0]
    assert " >=20 " in texts[1]
    assert "search bound" in texts[1]
    assert "20.000" not in texts[1]


def test_the_story_has_a_figure_per_part_that_ran() -> None:
    from io import BytesIO

    from matplotlib.image import imread

    world_only = demo_story_figures(demo_results(None))
    with_real = demo_story_figures(demo_results(real_results()))
    assert [figure.alt for figure in world_only] == ["ECE and accuracy per variant, known vs unknown people"]
    assert len(with_real) == 2
    assert "by popularity" in with_real[1].alt
    for figure in with_real:
        assert imread(BytesIO(figure.png)).shape[0] > 300


@pytest.mark.real_model
@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")
def test_the_demo_runs_smollm2_on_real_facts_by_popularity(tmp_path) -> None:
    if not PACKAGED_MODELS["smollm2-135m-instruct"].is_installed():
        pytest.fail(f"install it: {PACKAGED_MODELS['smollm2-135m-instruct'].install}")
    story = RealModelStory(n_items=48, n_strata=3)
    settings = DemoSettings(
        "micro", cache_dir=tmp_path / "cache", n_resamples=20, variants=(), align=False, real_model=story
    )
    results = run_demo(tmp_path / "demo", settings)
    real = results.real_model
    assert real is not None
    assert (real.n_calibration, real.n_test) == (12, 36)
    assert len(real.strata) == 3
    assert set(real.temperatures) == set(REAL_MODEL_METHODS)
    assert all(value > 0 for value in real.temperatures.values())
    groups = {(row.variant, row.group): row.calibration for row in real.rows}
    for method in REAL_MODEL_METHODS:
        for variant in (method, f"{method} + temperature"):
            assert sum(groups[(variant, label)].n_items for label in real.strata) == 36
            # Temperature scaling never changes which option is predicted.
            assert groups[(variant, "all")].accuracy == groups[(method, "all")].accuracy
    assert real.source["gguf"]["quantization"] == "Q4_1"
    report = (tmp_path / "demo" / "report.html").read_text()
    # The story's figures, the real model's among them, come before the tables.
    assert report.index('alt="smollm2-135m-instruct: accuracy and confidence by popularity') < report.index(
        "<h2>Knowledge world: calibration"
    )
    assert "Real model: smollm2-135m-instruct on real facts, by popularity" in report
    assert (tmp_path / "demo" / "real-model" / "test" / "results.json").is_file()
