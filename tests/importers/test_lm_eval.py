"""``llmcal from-lm-eval`` on samples written by real lm-evaluation-harness, and on hand-made edge cases."""

from __future__ import annotations

import json

import pytest

from llmcal import InputError
from llmcal.cli.app import main
from llmcal.importers.lm_eval import read_lm_eval_samples, task_name_from_filename
from llmcal.runs import read_eval_run as read_run

from ..lm_eval_tasks import run_lm_eval, write_local_task

# Mixed numbers of choices (2 to 4) and gold answers in every position.
ITEMS = [
    {"question": question, "choices": choices, "answer": answer}
    for question, choices, answer in [
        ("What is the capital of France?", ["Lyon", "Paris", "the quick brown fox"], 1),
        ("Which colour is the sky on a clear day?", ["green", "red", "yellow", "blue"], 3),
        ("Who rides north to the old city?", ["the king and the queen", "a dog"], 0),
        ("Mountains rise above the", ["river bank", "valley", "lazy dog near the river"], 2),
        ("Which one is first?", ["A", "B"], 0),
        ("The river runs to the", ["sea", "sky", "king", "old city"], 0),
    ]
]


@pytest.fixture(scope="module")
def lm_eval_output(tiny_model_dir, tmp_path_factory):
    """Runs the real lm-eval command line with --log_samples on a local task and a tiny local model."""
    folder = write_local_task(tmp_path_factory.mktemp("lm-eval-run"), "llmcal_samples", ITEMS)
    output = run_lm_eval(tiny_model_dir, folder, "llmcal_samples", batch_size=4, timeout=300)
    samples = sorted(output.rglob("samples_llmcal_samples_*.jsonl"))
    results = sorted(output.rglob("results_*.json"))
    assert len(samples) == 1
    assert len(results) == 1
    return samples[0], json.loads(results[0].read_text())


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # 6 items: AUROC resamples degenerate
def test_accuracy_and_loglikelihoods_equal_lm_evals(lm_eval_output, tmp_path, capsys):
    samples_file, lm_eval_results = lm_eval_output
    out = tmp_path / "imported"
    assert main(["from-lm-eval", str(samples_file), "--out", str(out), "--n-resamples", "50"]) == 0
    results = json.loads((out / "results.json").read_text())
    ours = results["tasks"]["llmcal_samples"]["methods"]["sum"]["metrics"]["accuracy"]["value"]
    assert ours == pytest.approx(lm_eval_results["results"]["llmcal_samples"]["acc,none"], abs=1e-12)
    run = read_run(out)  # a regular evaluation directory: compare and report read it
    assert [record.n_options for record in run.records["llmcal_samples"]] == [3, 4, 2, 3, 2, 4]
    assert [record.answer for record in run.records["llmcal_samples"]] == [item["answer"] for item in ITEMS]
    for line, record in zip(
        samples_file.read_text().splitlines(), run.records["llmcal_samples"], strict=True
    ):
        logged = [float(response[0]) for response in json.loads(line)["filtered_resps"]]
        assert [option.total for option in record.options] == logged
    assert (out / "reliability_llmcal_samples_sum.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "lm-eval samples: calibration of the acc (sum) predictions" in printed


def sample(doc_id, target, lls, *, filter_="none", acc=None):
    line = {
        "doc_id": doc_id,
        "arguments": {f"gen_args_{i}": {"arg_0": "Q:", "arg_1": f" option{i}"} for i in range(len(lls))},
        "filtered_resps": [[str(ll), "False"] for ll in lls],
        "filter": filter_,
        "target": str(target),
    }
    if acc is not None:
        line["acc"] = acc
    return json.dumps(line)


def write(tmp_path, *lines, name="samples_my_task_2026-11-23T10-00-00.123456.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_targets_as_index_or_text_and_mixed_choice_counts(tmp_path):
    path = write(tmp_path, sample(0, 1, [-2.0, -1.0]), sample(1, "option2", [-1.0, -3.0, -0.5], acc=1.0))
    task = read_lm_eval_samples(path)
    assert task.name == "my_task"
    assert [record.answer for record in task.records] == [1, 2]
    assert [record.n_options for record in task.records] == [2, 3]
    assert task.lm_eval_accuracy is None  # logged for one document only


def test_only_the_first_filter_is_read(tmp_path):
    path = write(tmp_path, sample(0, 0, [-1.0, -2.0]), sample(0, 0, [-9.0, -2.0], filter_="other"))
    assert len(read_lm_eval_samples(path).records) == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", r":1: not valid JSON"),
        ('{"arguments": {}}', r":1: expected an lm-eval sample object with a 'doc_id'"),
        (sample(0, 7, [-1.0, -2.0]), r":1: target '7' is neither a choice index below 2"),
        (sample(0, 0, [-1.0, float("nan")]), r":1: the log-likelihood of choice 1 is nan"),
        (sample(0, 0, [-1.0]), r":1: a multiple-choice document needs at least two choices"),
        (sample(0, "²", [-1.0, -2.0]), r":1: target '²' is neither a choice index"),
        (json.dumps({"doc_id": 0, "arguments": [["Q", " a"], ["Q", " b"]], "resps": 5, "target": "0"}),
         r":1: expected one \[log-likelihood, is_greedy\] response per choice"),
        ("1" * 5000, r":1: JSON this reader cannot hold"),
        (
            json.dumps({"doc_id": 0, "arguments": {"gen_args_0": {"arg_0": "Q", "arg_1": {"until": ["\n"]}}},
                        "filtered_resps": ["Paris"], "target": "Paris"}),
            r"multiple_choice tasks \(per-choice log-likelihoods\) only",
        ),
    ],
)  # fmt: skip
def test_bad_samples_name_the_line(tmp_path, line, message):
    with pytest.raises(InputError, match=message):
        read_lm_eval_samples(write(tmp_path, line))


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    good = write(tmp_path, sample(0, 0, [-1.0, -2.0]), sample(1, 1, [-1.0, -2.0]))
    twice = write(tmp_path, sample(0, 0, [-1.0, -2.0]), name="samples_my_task_2026-11-24T10-00-00.1.jsonl")
    out = tmp_path / "out"
    assert main(["from-lm-eval", str(good), str(twice), "--out", str(out)]) == 2
    assert "comes from more than one file" in capsys.readouterr().err
    assert main(["from-lm-eval", str(tmp_path / "missing.jsonl"), "--out", str(out)]) == 2
    assert not out.exists()


def test_task_names_from_lm_eval_file_names():
    assert task_name_from_filename("samples_mmlu_high_school_physics_2026-11-23T10-00-00.123456.jsonl") == (
        "mmlu_high_school_physics"
    )
    assert task_name_from_filename("my_samples.jsonl") == "my_samples"
