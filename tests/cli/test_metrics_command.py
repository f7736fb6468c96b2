from __future__ import annotations

import json

import numpy as np
import pytest

from llmcal.cli.app import main
from llmcal.metrics import ece, sce, top_label_confidence

from ..conftest import softmax, synthetic_logits


@pytest.fixture
def predictions_file(tmp_path):
    logits, labels = synthetic_logits(600, 4, seed=9)
    probs = softmax(logits)
    path = tmp_path / "run.jsonl"
    path.write_text(
        "".join(
            json.dumps({"probs": p.tolist(), "label": int(y)}) + "\n"
            for p, y in zip(probs, labels, strict=True)
        )
    )
    return path, probs, labels


SELECTIVE = ("aurc", "eaurc", "auarc", "prr", "sel_acc_50", "sel_acc_80", "sel_acc_90")


def test_json_output_matches_the_library(predictions_file, capsys):
    path, probs, labels = predictions_file
    assert main(["metrics", str(path), "--json", "--n-resamples", "50", "--n-bins", "10"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_items"] == 600
    assert result["n_options"] == 4
    assert result["metrics"]["ece"]["value"] == pytest.approx(
        ece(*top_label_confidence(probs, labels), n_bins=10)
    )
    assert result["metrics"]["sce"]["value"] == pytest.approx(sce(probs, labels, n_bins=10))
    assert set(result["metrics"]) == {
        "accuracy",
        "top_brier",
        "ece",
        "mce",
        "rms_ce",
        "smooth_ece",
        "sce",
        "ace",
        "brier",
        "nll",
        "auroc",
        *SELECTIVE,
    }
    for metric in result["metrics"].values():
        assert metric["ci_low"] <= metric["value"] <= metric["ci_high"]
    assert sum(row["count"] for row in result["reliability"]) == 600
    assert result["settings"] == {
        "n_bins": 10,
        "strategy": "uniform",
        "n_resamples": 50,
        "level": 0.95,
        "seed": 0,
    }


def test_table_output_lists_every_metric(predictions_file, capsys):
    path, _, _ = predictions_file
    assert main(["metrics", str(path), "--n-resamples", "20"]) == 0
    out = capsys.readouterr().out
    for name in ("accuracy", "ece", "smooth_ece", "sce", "brier", "auroc", "95% CI", "600 items, 4 options"):
        assert name in out


def test_top_label_input_reports_top_label_metrics_only(tmp_path, capsys):
    path = tmp_path / "verbalised.jsonl"
    rng = np.random.default_rng(0)
    path.write_text(
        "".join(
            json.dumps({"confidence": float(c), "correct": bool(rng.uniform() < c - 0.2)}) + "\n"
            for c in rng.uniform(0.5, 1.0, size=200)
        )
    )
    assert main(["metrics", str(path), "--json", "--n-resamples", "20"]) == 0
    assert set(json.loads(capsys.readouterr().out)["metrics"]) == {
        "accuracy",
        "top_brier",
        "ece",
        "mce",
        "rms_ce",
        "smooth_ece",
        "auroc",
        *SELECTIVE,
    }


def test_out_writes_the_json_atomically(predictions_file, tmp_path, capsys):
    path, _, _ = predictions_file
    out = tmp_path / "results" / "metrics.json"
    assert main(["metrics", str(path), "--n-resamples", "20", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["n_items"] == 600
    assert [p.name for p in out.parent.iterdir()] == ["metrics.json"]  # no temporary files left behind


def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"probs": [0.5, 0.5], "label": 0}\n{"probs": [0.5, 0.5], "label": 5}\n')
    out = tmp_path / "out.json"
    assert main(["metrics", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2: field 'label'" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "arguments",
    [
        ["metrics", "missing.jsonl"],
        ["metrics", "x.jsonl", "--n-bins", "0"],
        ["metrics", "x.jsonl", "--strategy", "equal"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(arguments, capsys):
    assert main(arguments) == 2


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert "llmcal" in capsys.readouterr().out
    assert main(["metrics", "--help"]) == 0
    assert "--n-resamples" in capsys.readouterr().out


def test_tasks_lists_the_built_in_tasks(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in ("mmlu", "arc_easy", "hellaswag", "winogrande", "boolq", "57 per-subject"):
        assert name in out
    assert main(["tasks", "--all"]) == 0
    assert "mmlu_abstract_algebra" in capsys.readouterr().out


def test_by_a_field_gives_every_metric_per_stratum(predictions_file, tmp_path, capsys):
    from llmcal.metrics import MetricSettings, Predictions, summarize

    path, probs, labels = predictions_file
    popularity = np.random.default_rng(3).lognormal(12, 3, size=600)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    by_popularity = tmp_path / "facts.jsonl"
    by_popularity.write_text("".join(
        json.dumps({**record, "popularity": float(value), "relation": ["capital", "currency"][i % 2]}) + "\n"
        for i, (record, value) in enumerate(zip(records, popularity, strict=True))
    ))  # fmt: skip
    arguments = ["metrics", str(by_popularity), "--n-resamples", "20", "--n-bins", "10"]
    assert main([*arguments, "--json", "--by", "popularity", "--strata", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_items"] == 600  # the whole file first, as without --by
    strata = result["strata"]
    assert (strata["by"], strata["n_strata"], strata["kind"]) == ("popularity", 3, "quantile")
    cuts = np.sort(popularity)[[199, 399]]
    settings = MetricSettings(n_bins=10, n_resamples=20)
    for position, group in enumerate(strata["groups"]):
        rows = (popularity > (cuts[position - 1] if position else -np.inf)) & (
            popularity <= (cuts[position] if position < 2 else np.inf)
        )
        assert group["n_items"] == rows.sum() == 200
        assert (group["lower"], group["upper"]) == (popularity[rows].min(), popularity[rows].max())
        by_hand = summarize(Predictions.from_probabilities(probs[rows], labels[rows], "x"), settings)
        for name in ("accuracy", "ece", "sce", "brier"):
            assert group["metrics"][name]["value"] == pytest.approx(by_hand.metric(name).value), name
            assert group["metrics"][name]["ci_low"] == pytest.approx(by_hand.metric(name).ci_low), name
        assert group["mean_confidence"] == pytest.approx(probs[rows].max(axis=1).mean())
        assert sum(row["count"] for row in group["reliability"]) == 200
    assert main([*arguments, "--by", "relation"]) == 0
    out = capsys.readouterr().out
    assert "facts.jsonl: calibration by relation (one stratum per value)" in out
    assert "capital" in out
    assert "currency" in out


def test_by_a_field_the_records_lack_exits_2(predictions_file, capsys):
    path, _, _ = predictions_file
    assert main(["metrics", str(path), "--by", "popularity"]) == 2
    assert "600 of 600 records have no field 'popularity' (line 1 is one)" in capsys.readouterr().err


def test_the_progress_bar_moves_with_each_block_of_resamples(predictions_file, monkeypatch, capsys):
    """Issue 26: on 1M items the bar stood still for minutes; it now advances with the resamples."""
    from llmcal.cli import metrics_command
    from llmcal.metrics import count_bootstrap

    path, _, _ = predictions_file
    monkeypatch.setattr(count_bootstrap, "_BLOCK_CELLS", 600 * 10)  # blocks of 10 resamples of 600 items
    events = []

    class RecordingProgress:
        def __init__(self, console):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exception):
            return False

        def add_task(self, description, total):
            events.append(("add", description, total))
            return 0

        def update(self, task, **fields):
            events.append(("update", fields["completed"], fields["description"]))

    monkeypatch.setattr(metrics_command, "step_progress", RecordingProgress)
    assert main(["metrics", str(path), "--n-resamples", "35", "--json"]) == 0
    assert events[0] == ("add", "18 metrics on all items", 35)
    assert [event[1] for event in events[1:]] == [10, 20, 30, 35]
    assert events[-1][2] == "18 metrics: bootstrap resamples"
    assert json.loads(capsys.readouterr().out)["settings"]["n_resamples"] == 35
