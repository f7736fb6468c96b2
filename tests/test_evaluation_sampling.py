"""Evaluating with methods over samples (issue 29): summaries, resume, the CLI's options and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcal.cli.app import main
from llmcal.confidence.generation_extraction import GenerationSettings, sampling_method_names
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings
from llmcal.runs import EvalSettings
from llmcal.scoring import FakeBackend
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import MCItem, OpenItem

CITIES = ["Paris", "Lima", "Oslo", "Quito", "Rome"]
ITEMS = [OpenItem(f"q{index}", f"What is city number {index}?", (CITIES[index % 5],)) for index in range(90)]
SAMPLED = ("seq-prob", *sampling_method_names())
SETTINGS = EvalSettings(
    GenerationSettings(SAMPLED, sampling=SamplingSettings(samples=4, seed=2)), MetricSettings(n_resamples=30)
)


class CountingBackend(FakeBackend):
    """The fake model answering with the cities; dies like a killed process after ``crash_after`` calls."""

    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__(answers=CITIES)
        self.crash_after = crash_after
        self.sampled = 0

    def sample(self, requests, *, settings, max_new_tokens, on_progress=None):
        if self.crash_after is not None and self.calls >= self.crash_after:
            raise KeyboardInterrupt("simulated kill")
        self.sampled += len(requests)
        return super().sample(
            requests, settings=settings, max_new_tokens=max_new_tokens, on_progress=on_progress
        )


def _run(out: Path, backend: FakeBackend) -> None:
    evaluate([EvalTask("cities", list(ITEMS))], backend, SETTINGS, out)


def test_every_method_over_samples_is_summarised_with_selective_metrics(tmp_path: Path) -> None:
    _run(tmp_path, CountingBackend())
    results = json.loads((tmp_path / "results.json").read_text())
    methods = results["tasks"]["cities"]["methods"]
    assert set(methods) == set(SAMPLED)
    for name in SAMPLED:
        metrics = methods[name]["metrics"]
        assert {"auroc", "aurc", "prr", "sel_acc_80"} <= set(metrics)
        assert metrics["aurc"]["ci_low"] <= metrics["aurc"]["value"] <= metrics["aurc"]["ci_high"]
    assert results["settings"]["extraction"]["sampling"] == {
        "samples": 4,
        "temperature": 1.0,
        "top_k": 50,
        "top_p": 1.0,
        "seed": 2,
    }


def test_a_killed_sampling_run_resumes_without_sampling_again_and_ends_identical(tmp_path: Path) -> None:
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    _run(reference, CountingBackend())
    with pytest.raises(KeyboardInterrupt):
        _run(resumed, CountingBackend(crash_after=3))  # the first chunk done (generate, sample), then dies
    finished = len((resumed / "records.jsonl").read_text().splitlines())
    assert 0 < finished < len(ITEMS)
    second = CountingBackend()
    _run(resumed, second)
    assert second.sampled == len(ITEMS) - finished
    for name in ("results.json", "bins.csv", "records.jsonl"):
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name


def _open_file(tmp_path: Path) -> Path:
    data = tmp_path / "open.jsonl"
    data.write_text("".join(json.dumps(item.to_record()) + "\n" for item in ITEMS[:6]))
    return data


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # the tiny model answers all wrong
def test_cli_samples_with_the_options_given(tmp_path: Path, tiny_model_dir: str) -> None:
    out = tmp_path / "out"
    argv = ["eval", "--model", tiny_model_dir, "--data", str(_open_file(tmp_path)), "--out", str(out)]
    options = ["--methods", "seq-prob,self-consistency,semantic-entropy", "--samples", "3", "--top-k", "0"]
    assert (
        main([*argv, *options, "--temperature", "1.5", "--max-new-tokens", "4", "--n-resamples", "20"]) == 0
    )
    results = json.loads((out / "results.json").read_text())
    sampling = results["settings"]["extraction"]["sampling"]
    assert (sampling["samples"], sampling["temperature"], sampling["top_k"]) == (3, 1.5, 0)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert all(len(record["samples"]) == 3 and len(record["sample_classes"]) == 4 for record in records)
    assert all(len(sample["tokens"]) <= 4 for record in records for sample in record["samples"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--methods", "semantic-entropy", "--samples", "0"], "--samples must be an integer of at least 2"),
        (["--methods", "semantic-entropy", "--samples", "1"], "at least 2"),
        (["--methods", "eigv", "--temperature", "-1"], "--temperature must be a finite number >= 0"),
        (["--methods", "eigv", "--top-p", "0"], "--top-p must be a number in (0, 1]"),
        (["--methods", "eigv", "--top-k", "-3"], "--top-k must be an integer >= 0"),
        (["--samples", "5"], "--samples set how answers are sampled, but no method over samples is chosen"),
        (
            ["--methods", "seq-prob", "--temperature", "0.5", "--top-p", "0.9"],
            "--temperature, --top-p set how",
        ),
    ],
)
def test_cli_bad_sampling_options_exit_2_and_write_nothing(
    tmp_path: Path, tiny_model_dir: str, options: list[str], message: str, capsys
) -> None:
    out = tmp_path / "out"
    argv = ["eval", "--model", tiny_model_dir, "--data", str(_open_file(tmp_path)), "--out", str(out)]
    assert main([*argv, *options]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not out.exists()


def test_cli_sampling_options_on_multiple_choice_items_exit_2(
    tmp_path: Path, tiny_model_dir: str, capsys
) -> None:
    data = tmp_path / "mc.jsonl"
    item = MCItem("a", "Which?", ("x", "y"), 0)
    data.write_text(json.dumps(item.to_record()) + "\n")
    out = tmp_path / "out"
    assert (
        main(["eval", "--model", tiny_model_dir, "--data", str(data), "--out", str(out), "--samples", "4"])
        == 2
    )
    assert "--samples apply to open-ended tasks" in capsys.readouterr().err
    assert not out.exists()
