"""Evaluating open-ended items: answers, the five confidence methods, resume, compare, report and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcal import InputError
from llmcal.cli.app import main
from llmcal.comparison import compare
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.confidence.verbalized import read_verbal_confidence
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings
from llmcal.reports.html import write_report
from llmcal.runs import EvalSettings, Stratification
from llmcal.runs import read_eval_run as read_run
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import OpenItem

CITIES = ["Paris", "Lima", "Oslo", "Quito", "Rome"]
ITEMS = [
    OpenItem(f"q{index}", f"What is city number {index}?", (CITIES[index % 5],), metadata={"size": index})
    for index in range(90)
]
SETTINGS = EvalSettings(GenerationSettings(), MetricSettings(n_resamples=30))


class CountingBackend(FakeBackend):
    """A fake model answering with the cities; counts generate/score calls and can crash like a kill."""

    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__(answers=CITIES)
        self.crash_after = crash_after
        self.prompts: list[str] = []

    def generate(self, requests, *, max_new_tokens, on_progress=None):
        if self.crash_after is not None and self.calls >= self.crash_after:
            raise KeyboardInterrupt("simulated kill")
        self.prompts += [request.context for request in requests]
        return super().generate(requests, max_new_tokens=max_new_tokens, on_progress=on_progress)


def run(out: Path, backend: FakeBackend, settings: EvalSettings = SETTINGS, stratification=None):
    return evaluate([EvalTask("cities", list(ITEMS))], backend, settings, out, stratification=stratification)


def test_every_method_is_summarised_and_verbal_failures_are_counted_not_dropped(tmp_path: Path) -> None:
    results = run(tmp_path, CountingBackend())
    task = results.tasks["cities"]
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert len(records) == len(ITEMS)
    unreadable = sum(read_verbal_confidence(record["verbal"]).value is None for record in records)
    assert 0 < unreadable < len(ITEMS)  # the fake model says "not sure" now and then
    assert task.answers is not None
    assert task.answers.no_confidence == {
        "seq-prob": 0,
        "mean-prob": 0,
        "min-prob": 0,
        "p-true": 0,
        "verbal": unreadable,
    }
    assert task.answers.problems == {"verbal": {"no number": unreadable}}
    assert {method: summary.n_items for method, summary in task.methods.items()} == {
        "seq-prob": 90,
        "mean-prob": 90,
        "min-prob": 90,
        "p-true": 90,
        "verbal": 90 - unreadable,
    }
    right = sum(
        record["generation"]["text"].strip() == CITIES[int(record["id"][1:]) % 5] for record in records
    )
    assert task.answers.exact_match == pytest.approx(right / 90)
    accuracy = task.methods["seq-prob"].metric("accuracy")
    assert accuracy is not None
    assert accuracy.value == pytest.approx(right / 90)
    metrics = set(task.methods["seq-prob"].to_dict()["metrics"])
    assert {"ece", "mce", "smooth_ece", "top_brier", "auroc"} <= metrics
    assert not metrics & {"sce", "brier", "nll"}  # nothing that needs option probabilities
    assert (
        json.loads((tmp_path / "results.json").read_text())["tasks"]["cities"]["answers"]["no_confidence"][
            "verbal"
        ]
        == unreadable
    )


def test_only_the_passes_the_methods_need_are_run(tmp_path: Path) -> None:
    backend = CountingBackend()
    run(
        tmp_path,
        backend,
        EvalSettings(GenerationSettings(("seq-prob", "min-prob")), MetricSettings(n_resamples=30)),
    )
    assert not any(prompt.endswith(("Probability:", "true or false?\nAnswer:")) for prompt in backend.prompts)
    record = json.loads((tmp_path / "records.jsonl").read_text().splitlines()[0])
    assert (record["p_true"], record["verbal"]) == (None, None)


def test_a_killed_open_run_resumes_without_regenerating_and_ends_identical(tmp_path: Path) -> None:
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    run(reference, CountingBackend())
    with pytest.raises(KeyboardInterrupt):
        run(resumed, CountingBackend(crash_after=5))  # dies in the second 64-item chunk (3 calls a chunk)
    finished = len((resumed / "records.jsonl").read_text().splitlines())
    assert finished == 64
    second = CountingBackend()
    run(resumed, second)
    assert len([p for p in second.prompts if not p.endswith("Probability:")]) == len(ITEMS) - finished
    for name in ("results.json", "bins.csv", "records.jsonl"):
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name


def test_open_items_with_multiple_choice_settings_are_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    from llmcal.confidence import ExtractionSettings

    with pytest.raises(InputError, match="'cities' is open-ended"):
        run(tmp_path / "out", CountingBackend(), EvalSettings(ExtractionSettings(("sum",))))
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore:.*bootstrap resamples gave an undefined metric")  # AUROC of 30 items
def test_stratified_open_results_count_each_methods_answered_items(tmp_path: Path) -> None:
    results = run(tmp_path, CountingBackend(), stratification=Stratification("size", 3))
    strata = results.tasks["cities"].strata
    assert strata is not None
    verbal = sum(group.methods["verbal"].n_items for group in strata.groups)
    assert verbal == results.tasks["cities"].methods["verbal"].n_items
    assert sum(group.methods["seq-prob"].n_items for group in strata.groups) == 90


def test_two_open_runs_compare_on_top_label_metrics_and_the_report_renders(tmp_path: Path) -> None:
    run(tmp_path / "base", CountingBackend())
    aligned = FakeBackend(answers=CITIES[:3], unsure_every=3)
    evaluate([EvalTask("cities", list(ITEMS))], aligned, SETTINGS, tmp_path / "aligned")
    base_run, aligned_run = read_run(tmp_path / "base"), read_run(tmp_path / "aligned")
    results = compare(
        [("fake", base_run, aligned_run)], tmp_path / "cmp", settings=MetricSettings(n_resamples=20)
    )
    metrics = {change.metric for change in results.changes}
    assert {"top_brier", "auroc"} <= metrics
    assert "sce" not in metrics
    verbal = [c for c in results.changes if c.method == "verbal" and c.metric == "accuracy"]
    assert verbal  # compared on the items both runs gave a verbal confidence
    report = write_report([tmp_path / "base", tmp_path / "cmp"], tmp_path / "report.html")
    html = Path(report).read_text()
    for shown in ("exact match", "gave", "top brier"):
        assert shown in html


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # the tiny model answers all wrong
def test_cli_evaluates_an_open_file_and_reports_unparsed_verbal_answers(
    tmp_path: Path, tiny_model_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "open.jsonl"
    data.write_text("".join(json.dumps(item.to_record()) + "\n" for item in ITEMS[:12]))
    out = tmp_path / "out"
    argv = ["eval", "--model", tiny_model_dir, "--data", str(data), "--out", str(out)]
    assert main([*argv, "--n-resamples", "20", "--max-new-tokens", "6"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["extraction"]["max_new_tokens"] == 6
    task = results["tasks"]["open"]
    assert set(task["methods"]) == {"seq-prob", "mean-prob", "min-prob", "p-true", "verbal"}
    missing = task["answers"]["no_confidence"]["verbal"]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert missing == sum(read_verbal_confidence(record["verbal"]).value is None for record in records)
    assert "exact match" in printed
    if missing:
        assert f"open/verbal: {missing} of 12 answers gave no confidence" in printed
    for record in records:
        assert len(record["generation"]["tokens"]) <= 6


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ({"question": "q?", "answers": []}, "field 'answers'"),
        ({"question": "", "answers": ["a"]}, "field 'question': is empty"),
    ],
)
def test_cli_bad_open_items_exit_2_naming_file_and_line(
    tmp_path: Path, tiny_model_dir: str, row: dict, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"question": "fine?", "answers": ["x"]}) + "\n" + json.dumps(row) + "\n")
    out = tmp_path / "out"
    assert main(["eval", "--model", tiny_model_dir, "--data", str(data), "--out", str(out)]) == 2
    assert f"{data}:2: {where}" in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_multiple_choice_methods_for_open_items(
    tmp_path: Path, tiny_model_dir: str, capsys
) -> None:
    data = tmp_path / "open.jsonl"
    data.write_text(json.dumps(ITEMS[0].to_record()) + "\n")
    argv = [
        "eval",
        "--model",
        tiny_model_dir,
        "--data",
        str(data),
        "--out",
        str(tmp_path / "o"),
        "--methods",
        "sum",
    ]
    assert main(argv) == 2
    assert "'sum'" in capsys.readouterr().err


def test_stop_strings_from_the_settings_override_the_tasks_and_are_part_of_the_run(tmp_path: Path) -> None:
    class Recording(CountingBackend):
        def generate(self, requests, *, max_new_tokens, on_progress=None):
            self.stops = {
                request.stop for request in requests if not request.context.endswith("Probability:")
            }
            return super().generate(requests, max_new_tokens=max_new_tokens, on_progress=on_progress)

    backend = Recording()
    settings = EvalSettings(
        GenerationSettings(("seq-prob",), stop=[".", "\n"]), MetricSettings(n_resamples=10)
    )
    run(tmp_path, backend, settings)
    assert backend.stops == {(".", "\n")}
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["settings"]["extraction"]["stop"] == [".", "\n"]
    other = EvalSettings(GenerationSettings(("seq-prob",), stop=["\n"]), MetricSettings(n_resamples=10))
    with pytest.raises(InputError, match=r"settings\.extraction\.stop "):
        run(tmp_path, Recording(), other)
    with pytest.raises(InputError, match="`stop` must be non-empty strings"):
        GenerationSettings(stop=[""])


def test_cli_stop_reads_escapes_and_applies_to_open_items_only(
    tmp_path: Path, tiny_model_dir: str, capsys
) -> None:
    from llmcal.cli.option_values import stop_strings

    assert stop_strings(["\\n", ".", "\\t", "."]) == ("\n", ".", "\t")
    assert stop_strings(None) is None
    mc = tmp_path / "mc.jsonl"
    mc.write_text(json.dumps({"question": "q?", "choices": ["a", "b"], "answer": 0}) + "\n")
    argv = ["eval", "--model", tiny_model_dir, "--data", str(mc), "--out", str(tmp_path / "o"), "--stop", "."]
    assert main(argv) == 2
    assert "--stop applies to open-ended tasks" in capsys.readouterr().err
