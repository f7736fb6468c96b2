from __future__ import annotations

import json

import pytest

from llmcal import InputError
from llmcal.confidence import ExtractionSettings
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings
from llmcal.runs import EvalSettings, Stratification
from llmcal.runs import read_eval_run as read_run
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import MCItem

ITEMS = [
    MCItem(
        f"q{index}",
        f"Question number {index} about topic {index % 7}?",
        ("alpha", "beta", "gamma", "delta"),
        index % 4,
    )
    for index in range(150)
]
SETTINGS = EvalSettings(ExtractionSettings(methods=("sum", "mean", "choice")), MetricSettings(n_resamples=30))


class CountingBackend(FakeBackend):
    """Counts the items it scores; can crash after a number of score() calls, like a killed process."""

    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__(favoured=["alpha"])
        self.scored: list[str] = []
        self.crash_after = crash_after

    def score(self, requests, *, on_progress=None):
        if self.crash_after is not None and self.calls >= self.crash_after:
            raise KeyboardInterrupt("simulated kill")
        self.scored.extend(request.key for request in requests)
        return super().score(requests, on_progress=on_progress)


def run(out, backend, settings=SETTINGS, items=ITEMS, stratification=None):
    """The evaluation's results as results.json holds them."""
    tasks = [EvalTask("toy", list(items))]
    return evaluate(tasks, backend, settings, out, stratification=stratification).to_dict()


def test_writes_results_records_and_bins(tmp_path):
    results = run(tmp_path, CountingBackend())
    assert set(results["tasks"]["toy"]["methods"]) == {"sum", "mean", "choice"}
    metrics = results["tasks"]["toy"]["methods"]["sum"]["metrics"]
    assert {"accuracy", "ece", "sce", "brier", "smooth_ece"} <= set(metrics)
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == len(ITEMS)
    bins = (tmp_path / "bins.csv").read_text().splitlines()
    assert bins[0] == "task,method,bin,lower,upper,count,mean_confidence,accuracy"
    assert len(bins) == 1 + 3 * 15
    assert json.loads((tmp_path / "results.json").read_text()) == results


def test_a_killed_run_resumes_without_rescoring_and_ends_identical(tmp_path):
    reference_dir, resumed_dir = tmp_path / "reference", tmp_path / "resumed"
    run(reference_dir, CountingBackend())
    with pytest.raises(KeyboardInterrupt):
        run(resumed_dir, CountingBackend(crash_after=2))  # dies in the second 64-item chunk
    finished = len((resumed_dir / "records.jsonl").read_text().splitlines())
    assert 0 < finished < len(ITEMS)
    with (resumed_dir / "records.jsonl").open("a") as handle:
        handle.write('{"task": "toy", "id": "q99", "ans')  # a line torn by the kill
    second = CountingBackend()
    run(resumed_dir, second)
    assert len(set(second.scored)) == len(ITEMS) - finished  # only the unfinished items were scored
    for name in ("results.json", "bins.csv", "records.jsonl"):
        assert (resumed_dir / name).read_bytes() == (reference_dir / name).read_bytes(), name


def test_resuming_with_other_settings_is_refused(tmp_path):
    run(tmp_path, CountingBackend())
    other = EvalSettings(ExtractionSettings(methods=("sum",)), MetricSettings(n_resamples=30))
    with pytest.raises(InputError, match=r"holds results of another run: settings\.extraction\.methods"):
        run(tmp_path, CountingBackend(), settings=other)
    with pytest.raises(InputError, match="task 'toy': 150 items before, 10 now"):
        run(tmp_path, CountingBackend(), items=ITEMS[:10])


def test_reliability_pngs_are_written(tmp_path):
    from llmcal.reports.reliability import save_reliability_pngs

    evaluate(
        [EvalTask("toy", ITEMS[:20])], CountingBackend(), SETTINGS, tmp_path, render=save_reliability_pngs
    )
    for method in ("sum", "mean", "choice"):
        png = tmp_path / f"reliability_toy_{method}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_read_run_returns_every_record_of_a_finished_run(tmp_path):
    run(tmp_path, CountingBackend())
    finished = read_run(tmp_path)
    assert finished.methods == ("sum", "mean", "choice")
    assert [record.id for record in finished.records["toy"]] == [item.id for item in ITEMS]
    assert finished.model == tmp_path.name  # the fake backend has no model name


def test_read_run_refuses_an_unfinished_run_and_leaves_its_records_alone(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, CountingBackend(crash_after=2))
    records = tmp_path / "records.jsonl"
    records.write_bytes(records.read_bytes() + b'{"task": "toy", "id": "q9')  # a torn last line
    before = records.read_bytes()
    with pytest.raises(InputError, match=r"64 of 150 items scored; the run did not finish"):
        read_run(tmp_path)
    assert records.read_bytes() == before


def test_read_run_names_a_directory_that_is_not_an_evaluation(tmp_path):
    with pytest.raises(InputError, match=r"no run\.json"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text('{"model": 1}')
    with pytest.raises(InputError, match="not a run manifest"):
        read_run(tmp_path)


def test_results_record_each_metrics_binning_and_bootstrap_seed(tmp_path):
    seeded = EvalSettings(
        ExtractionSettings(methods=("sum",)), MetricSettings(n_bins=10, strategy="quantile", seed=5)
    )
    results = run(tmp_path, CountingBackend(), settings=seeded)
    metrics = results["tasks"]["toy"]["methods"]["sum"]["metrics"]
    assert (metrics["ece"]["n_bins"], metrics["ece"]["strategy"]) == (10, "quantile")
    assert (metrics["sce"]["n_bins"], metrics["sce"]["strategy"]) == (10, "uniform")  # SCE is equal-width
    assert (metrics["ace"]["n_bins"], metrics["ace"]["strategy"]) == (10, "quantile")
    assert "n_bins" not in metrics["brier"]
    assert "n_bins" not in metrics["smooth_ece"]
    assert results["settings"]["seed"] == 5


def test_the_bootstrap_seed_reaches_the_intervals(tmp_path):
    def interval(seed, folder):
        settings = EvalSettings(
            ExtractionSettings(methods=("sum",)), MetricSettings(n_resamples=50, seed=seed)
        )
        ece = run(tmp_path / folder, CountingBackend(), settings=settings)["tasks"]["toy"]["methods"]["sum"]
        return ece["metrics"]["ece"]["ci_low"], ece["metrics"]["ece"]["ci_high"]

    assert interval(1, "a") == interval(1, "b")
    assert interval(1, "a") != interval(2, "c")


def test_ragged_option_counts_give_the_masked_sce(tmp_path):
    from llmcal.metrics import sce

    items = [
        MCItem(f"r{index}", f"Question {index}?", ("alpha", "beta", "gamma", "delta", "eps")[: 3 + index % 3],
               index % 3)
        for index in range(60)
    ]  # fmt: skip
    settings = EvalSettings(ExtractionSettings(methods=("sum",)), MetricSettings(n_resamples=20))
    results = run(tmp_path, FakeBackend(favoured=["alpha"]), settings=settings, items=items)
    records = read_run(tmp_path).records["toy"]
    from llmcal.confidence.methods import probabilities

    probs, labels, mask = probabilities(records, "sum")
    assert not mask.all()
    value = results["tasks"]["toy"]["methods"]["sum"]["metrics"]["sce"]["value"]
    assert value == pytest.approx(sce(probs, labels, mask))
    assert value != pytest.approx(sce(probs, labels))


# Items of real-fact tasks carry a popularity (ties included: 6 distinct values) and a relation.
FACTS = [
    MCItem(item.id, item.question, item.choices, item.answer, subject=["geo", "econ"][index % 2],
           metadata={"popularity": float(10 ** (index % 6)) * 3.2,
                     "relation": ["capital", "currency"][index % 3 == 0]})
    for index, item in enumerate(ITEMS)
]  # fmt: skip
BY_POPULARITY = Stratification("popularity", n_strata=4)
# Strata of 25 items: AUROC is undefined on a resample now and then.
small_strata = pytest.mark.filterwarnings("ignore:.*bootstrap resamples gave an undefined metric")


@small_strata
def test_stratified_results_give_every_method_every_metric_on_each_strata_items_alone(tmp_path):
    from llmcal.confidence.predictions import method_predictions
    from llmcal.metrics import summarize

    results = run(tmp_path, CountingBackend(), items=FACTS, stratification=BY_POPULARITY)
    strata = results["tasks"]["toy"]["strata"]
    assert (strata["by"], strata["n_strata"], strata["kind"]) == ("popularity", 4, "quantile")
    groups = strata["groups"]
    # 6 values of 25 items each: each cut at the value boundary nearest an equal share of the items left
    # (37.5 of 150: 25 and 50 are as near, the lower wins; then 66.7 of 125 and 112.5 of 75).
    assert [group["label"] for group in groups] == ["3.2e0", "3.2e1–3.2e2", "3.2e3", "3.2e4–3.2e5"]
    assert [group["n_items"] for group in groups] == [25, 50, 25, 50]
    records = read_run(tmp_path).records["toy"]
    for group in groups:
        assert set(group["methods"]) == {"sum", "mean", "choice"}
        mine = [r for r in records if group["lower"] <= r.metadata["popularity"] <= group["upper"]]
        assert len(mine) == group["n_items"]
        for method, entry in group["methods"].items():
            by_hand = summarize(method_predictions(mine, method, "x"), SETTINGS.metrics)
            assert entry["n_items"] == group["n_items"]
            assert entry["source"] == f"toy/{method} [{group['label']}]"
            for name, metric in by_hand.to_dict()["metrics"].items():
                assert entry["metrics"][name]["value"] == pytest.approx(metric["value"], nan_ok=True), name
                assert entry["metrics"][name]["ci_low"] == pytest.approx(metric["ci_low"], nan_ok=True), name
            confidence = method_predictions(mine, method, "x").confidences.mean()
            assert entry["mean_confidence"] == pytest.approx(confidence)
    whole = results["tasks"]["toy"]["methods"]["sum"]["metrics"]["accuracy"]["value"]
    assert whole == pytest.approx(
        sum(g["methods"]["sum"]["metrics"]["accuracy"]["value"] * g["n_items"] for g in groups) / len(FACTS)
    )
    bins = (tmp_path / "bins_popularity.csv").read_text().splitlines()
    assert bins[0] == "task,method,stratum,bin,lower,upper,count,mean_confidence,accuracy"
    assert len(bins) == 1 + 3 * 4 * 15
    counts = {}
    for line in bins[1:]:
        _, method, stratum, *_, count, _, _ = line.split(",")
        counts[(method, stratum)] = counts.get((method, stratum), 0) + int(count)
    assert counts[("mean", "3.2e1–3.2e2")] == 50
    assert (tmp_path / "bins.csv").read_text().splitlines()[0] == (
        "task,method,bin,lower,upper,count,mean_confidence,accuracy"
    )
    assert json.loads((tmp_path / "results.json").read_text()) == results


@small_strata
def test_a_text_field_gives_one_stratum_per_value_and_subject_reads_the_items_subject(tmp_path):
    results = run(tmp_path / "a", CountingBackend(), items=FACTS, stratification=Stratification("relation"))
    groups = results["tasks"]["toy"]["strata"]["groups"]
    assert [(g["label"], g["n_items"]) for g in groups] == [("capital", 100), ("currency", 50)]
    assert "lower" not in groups[0]
    assert results["tasks"]["toy"]["strata"]["kind"] == "categorical"
    results = run(tmp_path / "b", CountingBackend(), items=FACTS, stratification=Stratification("subject"))
    assert [(g["label"], g["n_items"]) for g in results["tasks"]["toy"]["strata"]["groups"]] == [
        ("econ", 75), ("geo", 75)
    ]  # fmt: skip


@small_strata
def test_another_stratification_summarises_a_finished_run_again_without_rescoring(tmp_path):
    run(tmp_path, CountingBackend(), items=FACTS)
    plain = (tmp_path / "results.json").read_bytes()
    manifest, records = (tmp_path / "run.json").read_bytes(), (tmp_path / "records.jsonl").read_bytes()
    again = CountingBackend()
    results = run(tmp_path, again, items=FACTS, stratification=BY_POPULARITY)  # not refused as other settings
    assert again.scored == []
    assert results["tasks"]["toy"]["strata"]["by"] == "popularity"
    assert (tmp_path / "run.json").read_bytes() == manifest
    assert (tmp_path / "records.jsonl").read_bytes() == records
    # The whole-task results are those of the unstratified run; only the strata are added.
    without_strata = json.loads(plain)
    assert {
        name: {k: v for k, v in task.items() if k != "strata"} for name, task in results["tasks"].items()
    } == (without_strata["tasks"])
    run(tmp_path, CountingBackend(), items=FACTS)
    assert (tmp_path / "results.json").read_bytes() == plain
    assert (tmp_path / "bins_popularity.csv").exists()  # named by its field: still true of these records


def test_a_field_some_items_lack_stops_the_run_before_anything_is_written(tmp_path):
    items = [*FACTS[:10], MCItem("bare", "Question?", ("alpha", "beta"), 0)]
    backend = CountingBackend()
    with pytest.raises(
        InputError, match=r"task 'toy': 1 of 11 items have no field 'popularity' \(item 'bare'"
    ):
        run(tmp_path / "out", backend, items=items, stratification=BY_POPULARITY)
    assert not (tmp_path / "out").exists()
    assert backend.scored == []
    with pytest.raises(
        InputError, match=r"Did you mean: popularity\? The items have: popularity, relation, subject"
    ):
        run(tmp_path / "out", backend, items=FACTS, stratification=Stratification("popular"))
    assert not (tmp_path / "out").exists()


@small_strata
def test_stratified_results_read_back_as_the_typed_results_they_were(tmp_path):
    from dataclasses import replace

    from llmcal.runs import read_eval_results

    results = evaluate([EvalTask("toy", FACTS[:60])], CountingBackend(), SETTINGS, tmp_path,
                       stratification=Stratification("popularity", 3))  # fmt: skip
    back = read_eval_results(tmp_path)
    assert back.stratification == Stratification("popularity", 3)
    assert back.to_dict() == results.to_dict()
    group = results.tasks["toy"].strata.groups[0]
    assert group.methods["sum"].reliability is not None  # computed results keep their bins
    expected = replace(group, methods={m: replace(s, reliability=None) for m, s in group.methods.items()})
    assert back.tasks["toy"].strata.groups[0] == expected
