"""Adding a confidence method or a metric is one file and one registration line; the CLI then offers it.

Each test writes the new plug-in as a module of its own, then runs, in a fresh Python, the one line that
registers it followed by the CLI: the name shows in ``--help`` or the printed table, and an evaluation
reports it in ``results.json``. A fresh process because registries are process-wide and help texts are
built when the CLI is imported. The scoring model is the deterministic fake (installed in place of
``llmcal.scoring.hf`` before the CLI imports it), so no model loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

QUIZ = [
    {
        "id": f"q{i}",
        "question": f"Which tree is number {i}?",
        "choices": ["oak", "elm", "ash"],
        "answer": i % 3,
    }
    for i in range(6)
]

# Runs each command line given as a JSON argument after the registration line, printing its exit code.
DRIVER = """\
import json, sys, types
sys.path.insert(0, {plugin_dir!r})
{registration}
from llmcal.scoring.fake import FakeBackend
fake_hf = types.ModuleType("llmcal.scoring.hf")
fake_hf.HFBackend = lambda model, **options: FakeBackend(favoured=["ash"])
sys.modules["llmcal.scoring.hf"] = fake_hf
from llmcal.cli.app import main
for argv in json.loads(sys.argv[1]):
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    print(f"exit {{code}}", flush=True)
"""


def run_cli(tmp_path: Path, plugin: str, source: str, registration: str, *commands: list[str]) -> str:
    """Writes ``plugin.py``, then runs ``registration`` and ``commands`` in a new Python; returns stdout."""
    (tmp_path / f"{plugin}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    driver = DRIVER.format(plugin_dir=str(tmp_path), registration=registration)
    result = subprocess.run(
        [sys.executable, "-c", driver, json.dumps(list(commands))],
        capture_output=True,
        text=True,
        env={**_environment(), "COLUMNS": "200"},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _environment() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key not in ("FORCE_COLOR", "NO_COLOR")}


def eval_command(tmp_path: Path, *extra: str) -> list[str]:
    tmp_path.mkdir(exist_ok=True)
    data = tmp_path / "quiz.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in QUIZ), encoding="utf-8")
    out = tmp_path / "run"
    return ["eval", "--model", "fake", "--data", str(data), "--out", str(out), "--n-resamples", "20", *extra]


# The new method's whole file: it reads the records' continuation scores, so it joins their scoring pass.
MAX_METHOD = """
    from llmcal.confidence.families import CONTINUATIONS
    from llmcal.confidence.methods import ConfidenceMethod


    def _top_token(record):
        return None if record.options is None else [max(option.token_logprobs) for option in record.options]


    METHOD = ConfidenceMethod("max", CONTINUATIONS, _top_token)
"""


def test_a_new_confidence_method_is_one_file_and_one_line(tmp_path):
    registration = (
        'from llmcal.confidence.methods import METHODS; METHODS.add_lazy("max", "max_method:METHOD")'
    )
    printed = run_cli(
        tmp_path,
        "max_method",
        MAX_METHOD,
        registration,
        ["eval", "--help"],
        eval_command(tmp_path, "--methods", "sum,max"),
    )
    assert "Multiple-choice: sum, mean, min, choice, max." in " ".join(printed.split())
    assert printed.count("exit 0") == 2
    chosen = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]["quiz"]["methods"]
    assert set(chosen) == {"sum", "max"}
    assert chosen["max"]["n_items"] == len(QUIZ)
    assert 0.0 <= chosen["max"]["metrics"]["ece"]["value"] <= 1.0
    assert any(line.split()[:2] == ["quiz", "max"] for line in printed.splitlines())  # a row of the table


# The new metric's whole file: the mean of how far confidence exceeds correctness (0 when never above it).
OVERCONFIDENCE = """
    import numpy as np

    from llmcal.metrics import MetricSpec


    def overconfidence(confidences, correct):
        return float(np.mean(np.maximum(np.asarray(confidences) - np.asarray(correct), 0.0)))


    SPEC = MetricSpec(overconfidence, "top_label", False, False, "mean confidence above correctness")
"""


def test_a_new_metric_is_one_file_and_one_line(tmp_path):
    predictions = tmp_path / "predictions.jsonl"
    rows = [{"probs": [0.9, 0.1], "label": 1}, {"probs": [0.3, 0.7], "label": 1}]
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    registration = (
        'from llmcal.metrics import METRICS; METRICS.add_lazy("overconfidence", "overconfidence_metric:SPEC")'
    )
    printed = run_cli(
        tmp_path,
        "overconfidence_metric",
        OVERCONFIDENCE,
        registration,
        ["metrics", str(predictions), "--n-resamples", "20"],
        eval_command(tmp_path, "--methods", "sum"),
    )
    assert printed.count("exit 0") == 2
    row = next(line for line in printed.splitlines() if "overconfidence" in line)
    # Item 1 is wrong at confidence 0.9, item 2 right at 0.7: (0.9 + 0) / 2.
    assert "0.450" in row
    assert "mean confidence above correctness" in row
    summary = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]["quiz"]["methods"]["sum"]
    assert summary["metrics"]["overconfidence"]["summary"] == "mean confidence above correctness"
    assert 0.0 <= summary["metrics"]["overconfidence"]["value"] <= 1.0
