"""``llmcal compare`` on hand-made evaluation runs whose changes are known exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from llmcal import InputError
from llmcal.cli.app import main
from llmcal.comparison import compare_runs
from llmcal.confidence.records import ItemRecord
from llmcal.metrics import MetricSettings, rank_by_change_rate
from llmcal.reports.comparison import comparison_markdown
from llmcal.runs import ComparisonResults
from llmcal.runs import read_eval_run as read_run
from llmcal.runs.records import record_line
from llmcal.scoring.requests import ContinuationScore

FAST = MetricSettings(n_bins=10, n_resamples=200)


def write_run(path, items, *, task="toy", methods=("sum",), model="hand-made"):
    """An `llmcal eval` output directory whose item i has gold ``answer`` and option scores ``scores``."""
    path.mkdir(parents=True)
    manifest = {
        "model": {"backend": "hand", "model": model},
        "settings": {"extraction": {"methods": list(methods)}},
        "tasks": {task: {"n_items": len(items), "item_ids": "-"}},
    }
    (path / "run.json").write_text(json.dumps(manifest))
    records = [
        ItemRecord(task, item_id, answer, len(scores), None,
                   tuple(ContinuationScore((score,), False) for score in scores), None)
        for item_id, answer, scores in items
    ]  # fmt: skip
    (path / "records.jsonl").write_text("".join(record_line(record) + "\n" for record in records))
    return path


def two_option_items(confidence, n_right, n_items, prefix="q"):
    """Two-option items, gold option 0, predicted with ``confidence``: option 0 on the first ``n_right``."""
    score = math.log(confidence / (1 - confidence))
    return [(f"{prefix}{i}", 0, (score, 0.0) if i < n_right else (0.0, score)) for i in range(n_items)]


@pytest.fixture
def base_and_aligned(tmp_path):
    # base: every item at confidence 0.6, 2 of 4 right -> accuracy 0.5, ECE 0.1
    # aligned: every item at confidence 0.9, 3 of 4 right -> accuracy 0.75, ECE 0.15
    base = write_run(tmp_path / "base", two_option_items(0.6, 2, 4))
    aligned = write_run(tmp_path / "aligned", two_option_items(0.9, 3, 4))
    return base, aligned


def by_metric(changes):
    return {item.metric: item for item in changes}


def test_known_deltas_and_change_rates(base_and_aligned):
    base, aligned = base_and_aligned
    changes = by_metric(compare_runs(read_run(base), read_run(aligned), settings=FAST))
    assert changes["accuracy"].base == pytest.approx(0.5)
    assert changes["accuracy"].aligned == pytest.approx(0.75)
    assert changes["accuracy"].delta == pytest.approx(0.25)
    assert changes["accuracy"].change_rate == pytest.approx(0.5)
    assert changes["ece"].base == pytest.approx(0.1)
    assert changes["ece"].aligned == pytest.approx(0.15)
    assert changes["ece"].delta == pytest.approx(0.05)
    assert changes["ece"].change_rate == pytest.approx(0.5)
    # Brier (2 options): base 0.5*(0.4^2*2) + 0.5*(0.6^2*2) = 0.52; aligned .75*.02 + .25*1.62 = 0.42
    assert changes["brier"].delta == pytest.approx(0.42 - 0.52)
    assert changes["brier"].change_rate == pytest.approx(-0.1 / 0.52)
    assert {item.rank for item in changes.values()} == {None}


def test_the_interval_is_paired_over_items(tmp_path):
    items = two_option_items(0.7, 30, 50)
    sharper = [(item_id, answer, (2 * scores[0], 2 * scores[1])) for item_id, answer, scores in items]
    base = read_run(write_run(tmp_path / "base", items))
    same = read_run(write_run(tmp_path / "same", items))
    # Identical runs: every resample gives both the same value, so a paired interval has zero width.
    for item in compare_runs(base, same, settings=FAST):
        assert item.delta == 0.0
        assert item.delta_low == item.delta_high == 0.0
    # Sharper scores keep every prediction, so accuracy changes by exactly 0 on every resample; ECE moves.
    shift = by_metric(compare_runs(base, read_run(write_run(tmp_path / "sharp", sharper)), settings=FAST))
    assert shift["accuracy"].delta_low == shift["accuracy"].delta_high == 0.0
    assert shift["ece"].delta_low <= shift["ece"].delta <= shift["ece"].delta_high
    assert shift["ece"].delta > 0.05


def test_items_are_paired_by_id_not_by_file_order(tmp_path):
    items = two_option_items(0.8, 3, 5)
    base = read_run(write_run(tmp_path / "base", items))
    reversed_run = read_run(write_run(tmp_path / "reversed", items[::-1]))
    for item in compare_runs(base, reversed_run, settings=FAST):
        assert item.delta == pytest.approx(0.0, abs=1e-12)
        assert item.delta_high - item.delta_low == pytest.approx(0.0, abs=1e-12)


def test_mismatched_items_are_a_clear_error(tmp_path):
    base = read_run(write_run(tmp_path / "base", two_option_items(0.6, 2, 4)))
    other_ids = read_run(write_run(tmp_path / "ids", two_option_items(0.6, 2, 4, prefix="x")))
    with pytest.raises(InputError, match=r"different items \('q0', 'q1', 'q2' and 1 more only in .*base"):
        compare_runs(base, other_ids)
    flipped = [(i, 1 - a, s) for i, a, s in two_option_items(0.6, 2, 4)]  # same scores, other gold
    with pytest.raises(InputError, match=r"different gold answers \(or option counts\)"):
        compare_runs(base, read_run(write_run(tmp_path / "flipped", flipped)))
    with pytest.raises(InputError, match="cover different tasks"):
        compare_runs(base, read_run(write_run(tmp_path / "task", two_option_items(0.6, 2, 4), task="other")))
    choice_only = read_run(write_run(tmp_path / "choice", two_option_items(0.6, 2, 4), methods=("choice",)))
    with pytest.raises(
        InputError, match="share no confidence method; evaluate both with one `methods`"
    ) as error:
        compare_runs(base, choice_only)
    assert error.value.parameter == "methods"
    with pytest.raises(InputError, match=r"Unknown metric 'ecee'\. Did you mean: ece"):
        compare_runs(base, base, metrics=["ecee"])


def test_pairs_are_ranked_by_change_rate_descending(tmp_path):
    base = read_run(write_run(tmp_path / "b", two_option_items(0.6, 2, 4)))
    small = read_run(write_run(tmp_path / "s", two_option_items(0.6, 3, 4)))  # accuracy +50%
    large = read_run(write_run(tmp_path / "l", two_option_items(0.6, 4, 4)))  # accuracy +100%
    changes = compare_runs(base, small, pair="small", metrics=["accuracy"], settings=FAST)
    changes += compare_runs(base, large, pair="large", metrics=["accuracy"], settings=FAST)
    ranks = {item.pair: item.rank for item in rank_by_change_rate(changes)}
    assert ranks == {"large": 1, "small": 2}
    markdown = comparison_markdown(ComparisonResults(FAST, [], rank_by_change_rate(changes)))
    assert "## large" in markdown
    assert "| toy | sum | accuracy | 0.500 | 1.000 | +0.500 |" in markdown


def test_cli_writes_json_markdown_and_plot(base_and_aligned, tmp_path, capsys):
    base, aligned = base_and_aligned
    out = tmp_path / "cmp"
    code = main(["compare", str(base), str(aligned), "--out", str(out), "--n-resamples", "50"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "aligned − base" in printed
    assert "+50.0%" in printed
    payload = json.loads((out / "comparison.json").read_text())
    assert payload["pairs"][0]["aligned_model"] == "hand-made"
    ece_row = next(row for row in payload["changes"] if row["metric"] == "ece")
    assert ece_row["delta"] == pytest.approx(0.05)
    assert ece_row["change_rate"] == pytest.approx(0.5)
    assert "| toy | sum | ece | 0.100 | 0.150 | +0.050 |" in (out / "comparison.md").read_text()
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_ranks_several_pairs(tmp_path, capsys):
    base = write_run(tmp_path / "b", two_option_items(0.6, 2, 4))
    one = write_run(tmp_path / "one", two_option_items(0.6, 3, 4))
    two = write_run(tmp_path / "two", two_option_items(0.6, 4, 4))
    args = [
        "compare",
        str(base),
        str(one),
        str(base),
        str(two),
        "--metrics",
        "accuracy",
        "--n-resamples",
        "20",
    ]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "out" / "comparison.json").read_text())["changes"]
    assert {row["pair"]: row["rank"] for row in rows} == {"one": 2, "two": 1}
    printed = capsys.readouterr().out
    assert "one: aligned − base" in printed
    assert "two: aligned − base" in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["odd"], "in pairs"),
        (["--names", "a,b"], "--names must give 1 distinct"),
        (["--strategy", "equal"], "--strategy must be"),
    ],
)
def test_cli_bad_input_exits_2_without_output(base_and_aligned, tmp_path, capsys, extra, message):
    base, aligned = base_and_aligned
    args = ["compare", str(base), str(aligned), "--out", str(tmp_path / "out")]
    if extra == ["odd"]:
        args = ["compare", str(base), str(aligned), str(base), "--out", str(tmp_path / "out")]
    else:
        args += extra
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unfinished_run_exits_2(base_and_aligned, capsys):
    base, aligned = base_and_aligned
    lines = (aligned / "records.jsonl").read_text().splitlines(keepends=True)
    (aligned / "records.jsonl").write_text("".join(lines[:-1]))
    assert main(["compare", str(base), str(aligned)]) == 2
    assert "3 of 4 items scored" in capsys.readouterr().err


def test_undefined_change_rate_is_nan_not_an_error(tmp_path):
    exact = [(f"q{i}", i % 2, (0.0, 0.0)) for i in range(4)]  # 0.5 confidence, half right: ECE exactly 0
    sharp = [(f"q{i}", i % 2, (0.0, -50.0)) for i in range(4)]
    changes = by_metric(
        compare_runs(
            read_run(write_run(tmp_path / "a", exact)),
            read_run(write_run(tmp_path / "b", sharp)),
            settings=FAST,
        )
    )
    assert changes["ece"].base == 0.0
    assert np.isnan(changes["ece"].change_rate)
    assert changes["ece"].to_dict()["change_rate"] is None


def test_compare_without_an_output_directory_writes_nothing_and_ranks_the_pairs(tmp_path):
    from llmcal.comparison import compare, comparison_steps

    base = read_run(write_run(tmp_path / "b", two_option_items(0.6, 2, 4)))
    small = read_run(write_run(tmp_path / "s", two_option_items(0.6, 3, 4)))
    large = read_run(write_run(tmp_path / "l", two_option_items(0.6, 4, 4)))
    pairs = [("small", base, small), ("large", base, large)]
    steps: list[str] = []
    results = compare(pairs, None, metrics=["accuracy", "ece"], settings=FAST, on_step=steps.append)
    assert {(item.pair, item.metric): item.rank for item in results.changes}[("large", "accuracy")] == 1
    assert [pair.name for pair in results.pairs] == ["small", "large"]
    assert steps == ["toy/sum/accuracy", "toy/sum/ece"] * 2
    assert comparison_steps(pairs, ["accuracy", "ece"]) == len(steps)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["b", "l", "s"]  # nothing else written
    with pytest.raises(InputError, match="No runs to compare"):
        compare([], None)
