"""``llmcal calibrate``: what it prints and writes, its defaults, and its refusals (one line, exit 2)."""

from __future__ import annotations

import json

import pytest

from llmcal.cli.app import main
from tests.recalibration_runs import OPEN_METHODS, fake_open_run, write_hand_run


@pytest.fixture(scope="module")
def open_run(tmp_path_factory):
    return fake_open_run(tmp_path_factory.mktemp("open") / "open")


@pytest.fixture
def hand_run(tmp_path):
    return write_hand_run(tmp_path / "hand", list(range(200)))


def test_calibrates_every_method_prints_a_table_within_80_columns_and_writes_the_run(
    open_run, tmp_path, capsys
):
    out = tmp_path / "calibrated"
    code = main(["calibrate", str(open_run), "--n-resamples", "20", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    table = [line for line in printed.splitlines() if str(tmp_path) not in line]  # paths are not wrapped
    assert max(len(line) for line in table) <= 80
    rows = [line.split() for line in table if line.split()[:1] == ["cities"]]
    assert [(row[1], row[2]) for row in rows] == [
        (method, calibrator) for method in OPEN_METHODS for calibrator in ("isotonic", "platt", "histogram")
    ]
    assert all(row[3] == "60/60" and "→" in row[4] for row in rows)
    assert f"wrote {out}/calibration.json and run.json" in printed
    payload = json.loads((out / "calibration.json").read_text())
    assert payload["settings"]["calibrators"] == ["isotonic", "platt", "histogram"]
    entry = payload["methods"][1]
    assert (entry["task"], entry["method"], entry["n_fit"], entry["left_out"]) == (
        "cities",
        "semantic-entropy",
        60,
        0,
    )
    assert entry["calibrators"]["platt"]["fitted"]["calibrator"] == "platt"
    assert {"value", "ci_low", "ci_high"} <= set(entry["calibrators"]["isotonic"]["after"]["metrics"]["ece"])
    html = tmp_path / "report.html"
    assert main(["report", str(out), "--out", str(html)]) == 0
    assert "Before and after each calibrator" in html.read_text()


def test_the_default_output_is_beside_the_run(hand_run, capsys):
    assert main(["calibrate", str(hand_run), "--calibrators", "platt", "--n-resamples", "20"]) == 0
    calibrated = hand_run.parent / "hand-calibrated"
    assert sorted(path.name for path in calibrated.iterdir()) == ["calibration.json", "run.json"]
    assert f"wrote {calibrated}/calibration.json" in capsys.readouterr().out


def test_apply_to_says_how_many_items_were_left_out(hand_run, tmp_path, capsys):
    other = write_hand_run(tmp_path / "other", list(range(100, 300)))
    args = ["calibrate", str(hand_run), "--apply-to", str(other), "--fit-on", "1", "--n-resamples", "20"]
    assert main([*args, "--out", str(tmp_path / "out"), "--methods", "sum"]) == 0
    assert f"toy: 100 items of {other} left out (fitted on)" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "calibration.json").read_text())["methods"][0]["n_eval"] == 100


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fit-on", "0"], "--fit-on must be in (0, 1); 1 only with --apply-to"),
        (["--fit-on", "1"], "--fit-on must be in (0, 1); 1 only with --apply-to"),
        (["--fit-on", "0.04"], "the fitting split has 8 answers with a confidence"),
        (["--calibrators", "isotonc"], "Did you mean: isotonic"),
        (["--calibrators", "temperature"], "'temperature' calibrates per-option scores"),
        (["--methods", "semantic-entropy"], "--methods: {run} has no confidence method 'semantic-entropy'"),
        (["--apply-to", "{missing}"], "{missing}: no run.json here"),
        (["--strategy", "equal"], "--strategy must be"),
        (["--apply-to", "{other}"], "--apply-to {other} has no confidence method 'sum' (it computed mean)"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(hand_run, tmp_path, capsys, extra, message):
    other = write_hand_run(tmp_path / "other", list(range(200)), methods=("mean",))
    names = {"run": hand_run, "missing": tmp_path / "missing", "other": other}
    out = tmp_path / "out"
    args = [part.format(**names) for part in extra]
    assert main(["calibrate", str(hand_run), "--n-resamples", "20", "--out", str(out), *args]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert message.format(**names) in " ".join(captured.err.split())
    assert not out.exists()
    assert not (tmp_path / "hand-calibrated").exists()


def test_an_evaluation_directory_as_out_is_refused_and_left_as_it_was(hand_run, capsys):
    before = {path.name: path.read_bytes() for path in hand_run.iterdir()}
    assert main(["calibrate", str(hand_run), "--out", str(hand_run), "--n-resamples", "20"]) == 2
    assert "holds a run of kind 'eval', not a calibration" in " ".join(capsys.readouterr().err.split())
    assert {path.name: path.read_bytes() for path in hand_run.iterdir()} == before
