"""Issue 26 A: an open-ended run where a method gave no answer a confidence still evaluates, reports and
compares; every surface renders the other methods and says which method had none and why."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from llmcal.cli.app import main
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings
from llmcal.reports.reliability import save_reliability_pngs
from llmcal.runs import EvalSettings, Stratification
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import OpenItem

CITIES = ["Paris", "Lima", "Oslo", "Quito", "Rome"]
ITEMS = [
    OpenItem(f"q{index}", f"What is city number {index}?", (CITIES[index % 5],), metadata={"size": index})
    for index in range(30)
]
SETTINGS = EvalSettings(GenerationSettings(), MetricSettings(n_resamples=20))


def silent(answers: list[str] = CITIES) -> FakeBackend:
    """A fake model that never states a confidence: every verbalised prompt gets ``not sure``."""
    return FakeBackend(answers=answers, unsure_every=1)


class SilentOnSmallCities(FakeBackend):
    """States a confidence for every item but those of size below 10 (the first of 3 strata)."""

    def __init__(self) -> None:
        super().__init__(answers=CITIES, unsure_every=1_000_000)

    def generate(self, requests, *, max_new_tokens, on_progress=None):
        generations = super().generate(requests, max_new_tokens=max_new_tokens, on_progress=on_progress)
        return [
            replace(generation, text=" not sure") if _small_verbal(request.context) else generation
            for request, generation in zip(requests, generations, strict=True)
        ]


def _small_verbal(context: str) -> bool:
    found = re.search(r"city number (\d+)\?", context)
    return context.endswith("Probability:") and found is not None and int(found.group(1)) < 10


def run(out: Path, backend: FakeBackend, stratification: Stratification | None = None) -> Path:
    evaluate(
        [EvalTask("cities", list(ITEMS))],
        backend,
        SETTINGS,
        out,
        render=save_reliability_pngs,
        stratification=stratification,
    )
    return out


def test_results_of_a_method_without_confidences_hold_zero_items_and_undefined_metrics(tmp_path):
    out = run(tmp_path / "run", silent())
    task = json.loads((out / "results.json").read_text())["tasks"]["cities"]
    assert task["methods"]["verbal"]["n_items"] == 0
    assert all(metric["value"] is None for metric in task["methods"]["verbal"]["metrics"].values())
    assert task["answers"]["no_confidence"]["verbal"] == 30
    assert task["answers"]["problems"] == {"verbal": {"no number": 30}}
    assert not (out / "reliability_cities_verbal.png").exists()
    assert (out / "reliability_cities_seq-prob.png").exists()


def test_report_renders_the_other_methods_and_says_verbal_had_no_confidence(tmp_path, capsys):
    out = run(tmp_path / "run", silent())
    html_path = tmp_path / "report.html"
    assert main(["report", str(out), "--out", str(html_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    html = html_path.read_text()
    for method in ("seq-prob", "mean-prob", "min-prob", "p-true"):
        assert f'alt="reliability diagram cities {method}"' in html
    assert 'alt="reliability diagram cities verbal"' not in html
    assert (
        "<code>verbal</code> gave none of the 30 answers a confidence (no number: 30): "
        "it has no metrics and no diagram" in html
    )
    assert "No diagram for cities / verbal: none of its 30 answers has a confidence (no number: 30)." in html


def test_cli_eval_prints_its_table_and_says_the_method_has_no_metrics(tmp_path, capsys, monkeypatch):
    import llmcal.scoring.hf

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(llmcal.scoring.hf, "HFBackend", lambda *args, **kwargs: silent())
    data = tmp_path / "open.jsonl"
    data.write_text("".join(json.dumps(item.to_record()) + "\n" for item in ITEMS))
    out = tmp_path / "out"
    argv = ["eval", "--model", "fake", "--data", str(data), "--out", str(out), "--n-resamples", "20"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert re.search(r"open\s+verbal\s+0\s+n/a", printed)
    assert re.search(r"open\s+seq-prob\s+30\s+\d\.\d{3}", printed)
    assert "open/verbal: 30 of 30 answers gave no confidence (no number: 30); it has no metrics." in printed
    assert "over the other 0" not in printed


def _compare(tmp_path: Path, base: FakeBackend, aligned: FakeBackend, capsys) -> tuple[dict, str]:
    run(tmp_path / "base", base)
    run(tmp_path / "aligned", aligned)
    cmp = tmp_path / "cmp"
    argv = ["compare", str(tmp_path / "base"), str(tmp_path / "aligned"), "--out", str(cmp)]
    assert main([*argv, "--n-resamples", "20"]) == 0
    return json.loads((cmp / "comparison.json").read_text()), capsys.readouterr().out


def test_compare_compares_the_other_methods_and_says_verbal_was_not_compared(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    data, printed = _compare(tmp_path, silent(), silent(CITIES[:3]), capsys)
    methods = {change["method"] for change in data["changes"]}
    assert methods == {"seq-prob", "mean-prob", "min-prob", "p-true"}
    reason = (
        "no item has a confidence in both runs; base: 30 of 30 answers gave no confidence (no number: 30); "
        "aligned: 30 of 30 answers gave no confidence (no number: 30)"
    )
    assert data["uncompared"] == [{"pair": "aligned", "task": "cities", "method": "verbal", "reason": reason}]
    assert f"cities/verbal: not compared: {reason}" in printed
    assert re.search(r"cities\s+seq-prob\s+accuracy", printed)
    markdown = (tmp_path / "cmp" / "comparison.md").read_text()
    assert f"cities/verbal: not compared: {reason}" in markdown
    assert (tmp_path / "cmp" / "comparison.png").is_file()
    html_path = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "cmp"), "--out", str(html_path)]) == 0
    assert f"cities/verbal: not compared: {reason}" in html_path.read_text()


def test_compare_when_only_the_aligned_run_lacks_confidences(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    data, printed = _compare(tmp_path, FakeBackend(answers=CITIES, unsure_every=1_000_000), silent(), capsys)
    assert "verbal" not in {change["method"] for change in data["changes"]}
    [uncompared] = data["uncompared"]
    assert uncompared["reason"] == (
        "no item has a confidence in both runs; base: every answer has one; "
        "aligned: 30 of 30 answers gave no confidence (no number: 30)"
    )
    assert "cities/verbal: not compared" in printed


def test_compare_of_a_single_method_with_no_confidence_writes_no_plot_and_says_why(tmp_path, capsys):
    settings = EvalSettings(GenerationSettings(("verbal",)), MetricSettings(n_resamples=20))
    for name in ("base", "aligned"):
        evaluate([EvalTask("cities", list(ITEMS))], silent(), settings, tmp_path / name)
    cmp = tmp_path / "cmp"
    argv = ["compare", str(tmp_path / "base"), str(tmp_path / "aligned"), "--out", str(cmp)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "cities/verbal: not compared" in printed
    assert not (cmp / "comparison.png").exists()
    assert json.loads((cmp / "comparison.json").read_text())["changes"] == []


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # AUROC of small strata
def test_report_of_strata_where_one_stratum_has_no_verbal_confidence(tmp_path, capsys):
    out = run(tmp_path / "run", SilentOnSmallCities(), Stratification("size", 3))
    text = (out / "results.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"results.json holds {name}: not strict JSON"))
    results = json.loads(text)["tasks"]["cities"]
    verbal_counts = [group["methods"]["verbal"]["n_items"] for group in results["strata"]["groups"]]
    assert verbal_counts == [0, 10, 10]
    assert results["strata"]["groups"][0]["methods"]["verbal"]["mean_confidence"] is None
    html_path = tmp_path / "report.html"
    assert main(["report", str(out), "--out", str(html_path)]) == 0
    html = html_path.read_text()
    assert 'alt="reliability diagram per size stratum, cities verbal"' in html
    assert "no confidence in stratum 0–9, left out" in html
    assert (out / "reliability_cities_verbal_by_size.png").is_file()


def test_the_api_leaves_the_method_out_says_why_and_counts_only_compared_steps(tmp_path):
    from llmcal.comparison import compare, compare_runs, comparison_steps, uncompared_methods
    from llmcal.runs import ComparisonResults
    from llmcal.runs import read_eval_run as read_run

    base = read_run(run(tmp_path / "base", silent()))
    aligned = read_run(run(tmp_path / "aligned", silent(CITIES[:3])))
    fast = MetricSettings(n_resamples=10)
    changes = compare_runs(base, aligned, pair="p", metrics=["accuracy", "ece"], settings=fast)
    assert {change.method for change in changes} == {"seq-prob", "mean-prob", "min-prob", "p-true"}
    [uncompared] = uncompared_methods(base, aligned, pair="p")
    assert (uncompared.pair, uncompared.task, uncompared.method) == ("p", "cities", "verbal")
    assert comparison_steps([("p", base, aligned)], ["accuracy", "ece"]) == len(changes) == 8
    results = compare([("p", base, aligned)], tmp_path / "cmp", metrics=["accuracy"], settings=fast)
    assert results.uncompared == [uncompared]
    assert ComparisonResults.from_dict(results.to_dict()) == results
    old = {key: value for key, value in results.to_dict().items() if key != "uncompared"}
    assert ComparisonResults.from_dict(old).uncompared == []  # comparisons written before issue 26
