"""Strata of items by a field: quantile strata of numbers, one stratum per text value, metrics per stratum."""

from __future__ import annotations

import numpy as np
import pytest

from llmcal import InputError
from llmcal.metrics import MetricSettings, Predictions, stratify, summarize, summarize_strata


def labels(strata):
    return [stratum.label for stratum in strata.strata]


def test_quantile_strata_hold_equal_counts_in_increasing_order_of_value():
    values = list(np.random.default_rng(0).permutation(np.arange(1.0, 101.0)))
    strata = stratify(values, n_strata=4)
    assert strata.kind == "quantile"
    assert strata.counts == [25, 25, 25, 25]
    assert [(stratum.lower, stratum.upper) for stratum in strata.strata] == [
        (1.0, 25.0), (26.0, 50.0), (51.0, 75.0), (76.0, 100.0)
    ]  # fmt: skip
    assert labels(strata) == ["1–25", "26–50", "51–75", "76–100"]
    for value, position in zip(values, strata.index, strict=True):
        assert strata.strata[position].lower <= value <= strata.strata[position].upper


def test_tied_values_share_a_stratum_and_the_cuts_move_to_the_nearest_value_boundary():
    # 10 items of value 1 cannot be split: the first stratum takes all of them, and the 6 items left are
    # shared out among the 3 strata left.
    values = [1] * 10 + [2, 3, 4, 5, 6, 7]
    strata = stratify(values, n_strata=4)
    assert strata.counts == [10, 2, 2, 2]
    assert labels(strata) == ["1", "2–3", "4–5", "6–7"]
    for value in set(values):
        assert len({int(strata.index[i]) for i, v in enumerate(values) if v == value}) == 1


def test_ties_at_the_top_leave_fewer_strata_than_asked():
    strata = stratify([1, 2, 3, 4, 5, 6] + [7] * 10, n_strata=4)
    assert labels(strata) == ["1–4", "5–6", "7"]
    assert strata.counts == [4, 2, 10]


def test_fewer_distinct_values_than_strata_give_one_stratum_per_value():
    # A greedy cut would merge 1 and 2 here (the first target, 4 items, is nearer the cut after 2).
    strata = stratify([3] * 10 + [1, 2], n_strata=3)
    assert labels(strata) == ["1", "2", "3"]
    assert strata.counts == [1, 1, 10]
    assert strata.index.tolist() == [2] * 10 + [0, 1]
    one = stratify([5.0, 5.0, 5.0], n_strata=4)
    assert labels(one) == ["5"]
    assert (one.strata[0].lower, one.strata[0].upper) == (5.0, 5.0)


def test_one_stratum_holds_everything():
    strata = stratify([3.0, 1.0, 2.0], n_strata=1)
    assert labels(strata) == ["1–3"]
    assert strata.index.tolist() == [0, 0, 0]


def test_numeric_labels_are_short_in_one_notation_and_tell_every_stratum_apart():
    populations = [3.2e7, 1.2e5, 8.0e4, 4.4e6, 2.5e6, 9.1e8, 123, 45_000]
    # One boundary reaches 1e5, so every label is scientific, each end with 2 significant digits.
    assert labels(stratify(populations, n_strata=4)) == ["1.2e2–4.5e4", "8.0e4–1.2e5", "2.5e6–4.4e6",
                                                         "3.2e7–9.1e8"]  # fmt: skip
    # A range whose ends are equal at 2 significant digits gets a third, in every label of the set.
    assert labels(stratify([1.21e6, 1.24e6, 5e6, 7e6], n_strata=2)) == ["1.21e6–1.24e6", "5.00e6–7.00e6"]
    # Adjacent strata may share a rounded end: their labels still differ.
    touching = [30, 96_061, 96_286, 2.0e6, 2.067e6, 1.1e7, 1.2e7, 1.4e9]
    assert labels(stratify(touching, n_strata=4)) == ["3.0e1–9.6e4", "9.6e4–2.0e6", "2.1e6–1.1e7",
                                                      "1.2e7–1.4e9"]  # fmt: skip
    assert labels(stratify([0.125, 0.5, 0.75, 1.5], n_strata=2)) == ["0.12–0.5", "0.75–1.5"]
    assert labels(stratify([-2, -1, 1, 2], n_strata=2)) == ["-2–-1", "1–2"]


def test_text_and_boolean_fields_get_one_stratum_per_value_sorted():
    strata = stratify(["law", "art", "physics", "art"], n_strata=2)  # n_strata does not apply
    assert strata.kind == "categorical"
    assert labels(strata) == ["art", "law", "physics"]
    assert strata.index.tolist() == [1, 0, 2, 0]
    assert all(stratum.lower is None and stratum.upper is None for stratum in strata.strata)
    flags = stratify([True, False, True])
    assert labels(flags) == ["false", "true"]
    assert flags.index.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("values", "n_strata", "message"),
    [
        ([1.0, "law"], 4, r"one kind; found number \(1\.0\), text \('law'\)"),
        ([True, 2], 4, r"found number \(2\), true/false \(True\)"),
        ([], 4, "No values"),
        ([1.0], 0, "`n_strata` must be a positive integer; got 0"),
        ([1.0, float("nan")], 2, "finite numbers"),
    ],
)
def test_bad_values_are_input_errors(values, n_strata, message):
    with pytest.raises(InputError, match=message):
        stratify(values, n_strata=n_strata)


def _ragged_predictions(n_items=90, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((n_items, 4), dtype=bool)
    mask[::3, 3] = False  # a third of the items have 3 options
    probs = rng.dirichlet(np.ones(4), size=n_items) * mask
    probs /= probs.sum(axis=1, keepdims=True)
    labels_ = np.where(mask[:, 3], rng.integers(0, 4, n_items), rng.integers(0, 3, n_items))
    return Predictions.from_probabilities(probs, labels_.astype(np.intp), "run", mask), probs, labels_, mask


def test_subset_keeps_the_selected_rows_and_drops_an_all_true_mask():
    predictions, probs, labels_, mask = _ragged_predictions()
    rows = np.zeros(90, dtype=bool)
    rows[[1, 2, 4]] = True  # items that all have 4 options
    subset = predictions.subset(rows, "part")
    assert subset.source == "part"
    assert subset.option_mask is None
    np.testing.assert_array_equal(subset.probs, probs[[1, 2, 4]])
    np.testing.assert_array_equal(subset.labels, labels_[[1, 2, 4]])
    rows[0] = True  # an item with 3 options: the mask stays
    np.testing.assert_array_equal(predictions.subset(rows).option_mask, mask[[0, 1, 2, 4]])
    assert predictions.subset(rows).source == "run"
    with pytest.raises(InputError, match=r"boolean mask of shape \(90,\)"):
        predictions.subset(np.arange(3))


def test_each_strata_summary_is_the_summary_of_its_items_alone():
    predictions, probs, labels_, mask = _ragged_predictions()
    values = np.random.default_rng(1).lognormal(10, 2, size=90)
    strata = stratify(list(values), n_strata=3)
    settings = MetricSettings(n_bins=5, n_resamples=40, seed=2)
    summaries = summarize_strata(predictions, strata, settings)
    assert len(summaries) == 3
    cuts = np.sort(values)[[29, 59]]  # 90 distinct values: 30 items per stratum
    for position, summary in enumerate(summaries):
        low = -np.inf if position == 0 else cuts[position - 1]
        high = np.inf if position == 2 else cuts[position]
        rows = (values > low) & (values <= high)
        assert rows.sum() == summary.n_items == 30
        by_hand = summarize(
            Predictions.from_probabilities(probs[rows], labels_[rows], "x", mask[rows]), settings
        )
        assert summary.source == f"run [{strata.strata[position].label}]"
        assert [metric.name for metric in summary.metrics] == [metric.name for metric in by_hand.metrics]
        for metric, expected in zip(summary.metrics, by_hand.metrics, strict=True):
            assert (metric.value, metric.ci_low, metric.ci_high) == pytest.approx(
                (expected.value, expected.ci_low, expected.ci_high), nan_ok=True
            ), metric.name
        np.testing.assert_array_equal(summary.reliability.counts, by_hand.reliability.counts)
    accuracy = [summary.metric("accuracy").value for summary in summaries]
    assert accuracy != [accuracy[0]] * 3  # the strata really differ
    assert summaries[0].metric("accuracy").value == pytest.approx(
        predictions.correct[values <= cuts[0]].mean()
    )


def test_strata_of_other_items_are_refused():
    predictions, *_ = _ragged_predictions()
    with pytest.raises(InputError, match="strata assign 3 items; the predictions have 90"):
        summarize_strata(predictions, stratify([1, 2, 3]))
