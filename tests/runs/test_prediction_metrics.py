"""The JSON of ``llmcal metrics --json`` / ``--out``, written by ``llmcal.runs.prediction_metrics``."""

from __future__ import annotations

import json
import math

import numpy as np

from llmcal.cli.app import main
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.strata import Strata, Stratum
from llmcal.metrics.summary import MetricValue, Summary
from llmcal.runs.evaluation import Stratification
from llmcal.runs.prediction_metrics import PredictionMetrics, StratifiedMetrics, write_prediction_metrics

SETTINGS = MetricSettings(n_bins=2, n_resamples=10)


def summary(source: str, ece: float) -> Summary:
    return Summary(
        source, 4, 2, SETTINGS, [MetricValue("ece", ece, ece, ece, "lower is better", {"n_bins": 2})]
    )


def test_strata_follow_the_summary_each_with_its_label_bounds_and_mean_confidence(tmp_path) -> None:
    strata = Strata("quantile", (Stratum("1–2", 1.0, 2.0), Stratum("3", 3.0, 3.0)), np.array([0, 1]))
    metrics = PredictionMetrics(
        summary("all", 0.25),
        StratifiedMetrics.of(
            Stratification("pop", 2), strata, [summary("a", 0.5), summary("b", math.nan)], [0.75, 0.5]
        ),
    )
    data = json.loads(metrics.to_json())
    assert list(data) == ["source", "n_items", "n_options", "settings", "metrics", "strata"]
    assert {key: data["strata"][key] for key in ("by", "n_strata", "kind")} == {
        "by": "pop",
        "n_strata": 2,
        "kind": "quantile",
    }
    first, second = data["strata"]["groups"]
    assert list(first)[:4] == ["label", "lower", "upper", "mean_confidence"]
    assert (first["label"], first["lower"], first["upper"], first["mean_confidence"]) == (
        "1–2",
        1.0,
        2.0,
        0.75,
    )
    assert first["metrics"]["ece"]["value"] == 0.5
    assert second["metrics"]["ece"]["value"] is None  # NaN is written as null
    assert metrics.to_json().startswith('{\n  "source": "all",')  # indented by two spaces

    out = tmp_path / "metrics.json"
    write_prediction_metrics(out, metrics)
    assert out.read_text(encoding="utf-8") == metrics.to_json() + "\n"


def test_a_categorical_stratum_has_no_bounds_and_no_strata_means_no_entry() -> None:
    strata = Strata("categorical", (Stratum("city"),), np.array([0]))
    stratified = StratifiedMetrics.of(Stratification("kind", 4), strata, [summary("c", 0.1)], [0.9])
    assert list(stratified.to_dict()["groups"][0])[:2] == ["label", "mean_confidence"]
    assert "strata" not in PredictionMetrics(summary("all", 0.1)).to_dict()


def test_the_cli_writes_to_out_exactly_what_it_prints(tmp_path, capsys) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "p.jsonl"
    rows = [
        {"probs": [p, 1 - p], "label": int(rng.uniform() < p), "k": "ab"[i % 2]}
        for i, p in enumerate(rng.uniform(size=40))
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "m.json"
    args = ["metrics", str(path), "--json", "--n-resamples", "10", "--by", "k", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert out.read_text(encoding="utf-8") == printed
    assert [group["label"] for group in json.loads(printed)["strata"]["groups"]] == ["a", "b"]
