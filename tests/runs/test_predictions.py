from __future__ import annotations

import numpy as np
import pytest

from llmcal import InputError
from llmcal.runs import read_predictions


def test_reads_probabilities_from_jsonl(tmp_path, write_jsonl):
    path = write_jsonl(
        tmp_path / "p.jsonl", [{"probs": [0.7, 0.3], "label": 0}, {"probs": [0.2, 0.8], "label": 0}]
    )
    predictions = read_predictions(path)
    np.testing.assert_allclose(predictions.confidences, [0.7, 0.8])
    np.testing.assert_array_equal(predictions.correct, [1.0, 0.0])
    assert predictions.n_items == 2
    assert predictions.n_options == 2


def test_logits_are_softmaxed_per_item(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "p.jsonl", [{"scores": [-1.0, -2.0, -3.0], "gold": 2}])
    predictions = read_predictions(path, probs_key="scores", label_key="gold", input_kind="logits")
    expected = np.exp([-1.0, -2.0, -3.0]) / np.exp([-1.0, -2.0, -3.0]).sum()
    np.testing.assert_allclose(predictions.probs[0], expected)
    assert predictions.correct[0] == 0.0


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # 2 items: AUROC is often undefined
def test_ragged_option_counts_are_zero_padded(tmp_path, write_jsonl):
    path = write_jsonl(
        tmp_path / "p.jsonl", [{"probs": [0.5, 0.5], "label": 1}, {"probs": [0.1, 0.2, 0.3, 0.4], "label": 3}]
    )
    predictions = read_predictions(path)
    np.testing.assert_allclose(predictions.probs, [[0.5, 0.5, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_array_equal(predictions.option_mask, [[1, 1, 0, 0], [1, 1, 1, 1]])
    # The summary's SCE measures each option over the items that have it.
    from llmcal.metrics import MetricSettings, sce, summarize

    value = next(
        m.value for m in summarize(predictions, MetricSettings(n_resamples=5)).metrics if m.name == "sce"
    )
    assert value == pytest.approx(sce(predictions.probs, predictions.labels, predictions.option_mask))
    assert value != pytest.approx(sce(predictions.probs, predictions.labels))


def test_reads_top_label_records(tmp_path, write_jsonl):
    path = write_jsonl(
        tmp_path / "p.jsonl", [{"confidence": 0.9, "correct": True}, {"confidence": 0.6, "correct": 0}]
    )
    predictions = read_predictions(path)
    assert predictions.probs is None
    assert predictions.n_options is None
    np.testing.assert_array_equal(predictions.correct, [1.0, 0.0])


def test_reads_csv_in_both_layouts(tmp_path):
    probs_csv = tmp_path / "p.csv"
    probs_csv.write_text(
        "id,probs_0,probs_1,probs_2,label\na,0.6,0.3,0.1,0\nb,0.5,0.5,,1\n", encoding="utf-8"
    )
    predictions = read_predictions(probs_csv)
    np.testing.assert_allclose(predictions.probs, [[0.6, 0.3, 0.1], [0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(predictions.labels, [0, 1])
    top_csv = tmp_path / "t.csv"
    top_csv.write_text("confidence,correct\n0.8,true\n0.4,0\n", encoding="utf-8")
    np.testing.assert_array_equal(read_predictions(top_csv).correct, [1.0, 0.0])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"probs": [0.7, 0.3], "label": 0}\n{"probs": [0.7, 0.3]}\n', ":2: field 'label': missing"),
        (
            b'{"probs": [0.7, 0.3], "label": 0}\n{"probs": [0.7, 0.3], "label": 2}\n',
            ":2: field 'label': expected an option index in 0..1; found 2",
        ),
        (b'{"probs": [], "label": 0}\n', ":1: field 'probs': expected a list of at least 2 numbers"),
        (b'{"probs": [0.7, 0.3], "label": 0}\n{"probs": [0.7, 0.3], "lab', ":2: truncated JSON"),
        (b'{"probs": [0.7, 0.3], "label": 0}\n\xff\xfe{}\n', ":2: not valid UTF-8"),
        (b'{"probs": [0.7, "x"], "label": 0}\n', ":1: field 'probs': expected a number; found 'x'."),
        (b'{"probs": [0.7, null], "label": 0}\n', ":1: field 'probs': expected a number; found None."),
        (b'{"probs": [0.7, true], "label": 0}\n', ":1: field 'probs': expected a number; found True."),
        (
            b'{"probs": ["nan", 0.3], "label": 0}\n',
            ":1: field 'probs': expected a finite number; found 'nan'.",
        ),
        (b'{"confidence": [0.5], "correct": 1}\n', ":1: field 'confidence': expected a number; found [0.5]."),
        (b'{"probs": [0.7, 0.4], "label": 0}\n', "summing to 1; found [0.7, 0.4]"),
        (
            b'{"probs": [0.7, 0.3], "label": 0}\n{"confidence": 0.5, "correct": 1}\n',
            ":2: expected a probabilities record",
        ),
        (b'{"confidence": 1.5, "correct": 1}\n', ":1: field 'confidence': expected a value in [0, 1]"),
        (b'{"confidence": 0.5, "correct": "maybe"}\n', ":1: field 'correct': expected true/false or 1/0"),
        (b'{"answer": 1}\n', ":1: expected either 'probs' and 'label'"),
        (b"[0.5, 0.5]\n", ":1: expected a JSON object"),
        (b"\n\n", "no predictions found"),
    ],
)
def test_bad_jsonl_names_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        read_predictions(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_bad_csv_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("probs_0,probs_1,label\n0.5,0.5,0\n0.5,0.5,7\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv:3: field 'label'"):
        read_predictions(path)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_predictions(tmp_path / "missing.jsonl")
    other = tmp_path / "p.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match=r"unsupported file type '\.txt'"):
        read_predictions(other)


def test_read_field_keeps_json_values_and_reads_csv_columns_of_numbers_as_numbers(tmp_path, write_jsonl):
    from llmcal.runs.predictions import read_field

    path = write_jsonl(tmp_path / "p.jsonl", [
        {"probs": [0.7, 0.3], "label": 0, "popularity": 3.2e7, "relation": "capital", "known": True},
        {"probs": [0.2, 0.8], "label": 0, "popularity": 120, "relation": "currency", "known": False},
    ])  # fmt: skip
    assert read_field(path, "popularity") == [3.2e7, 120]
    assert read_field(path, "relation") == ["capital", "currency"]
    assert read_field(path, "known") == [True, False]
    table = tmp_path / "p.csv"
    table.write_text("probs_0,probs_1,label,popularity,relation\n0.6,0.4,0,3.2e7,capital\n"
                     "0.5,0.5,1,120,7\n", encoding="utf-8")  # fmt: skip
    assert read_field(table, "popularity") == [3.2e7, 120.0]
    assert read_field(table, "relation") == ["capital", "7"]  # not every cell is a number: text


def test_read_field_names_the_records_that_lack_it_and_the_fields_they_have(tmp_path, write_jsonl):
    from llmcal.runs.predictions import read_field

    path = write_jsonl(tmp_path / "p.jsonl", [
        {"probs": [0.7, 0.3], "label": 0, "popularity": 3.2e7},
        {"probs": [0.2, 0.8], "label": 0},
        {"probs": [0.2, 0.8], "label": 1, "popularity": [1]},
    ])  # fmt: skip
    with pytest.raises(InputError) as error:
        read_field(path, "relation")
    assert str(error.value) == (
        f"{path}: 3 of 3 records have no field 'relation' (line 1 is one). The records have: label, "
        "popularity (2 of 3), probs."
    )
    with pytest.raises(
        InputError, match=r"p.jsonl:3: field 'popularity': expected a number, text or true/false"
    ):
        read_field(path, "popularity")


# --- Hostile files (issue 26) ---------------------------------------------------------------------------


def test_csv_cells_may_hold_quoted_line_breaks_and_unicode_separators(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        'id,probs_0,probs_1,label,note\n"a\nb",0.6,0.4,0,x\u2028y\nc,0.5,0.5,0,p\x85q\x0cr\nd,0.5,0.5,7,z\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"p.csv:5: field 'label': expected an option index in 0..1"):
        read_predictions(path)
    path.write_text(
        'id,probs_0,probs_1,label,note\n"a\nb",0.6,0.4,0,x\u2028y\nc,0.5,0.5,0,p\x85q\n', encoding="utf-8"
    )
    assert read_predictions(path).n_items == 2
    from llmcal.runs.predictions import read_field

    assert read_field(path, "note") == ["x\u2028y", "p\x85q"]
    assert read_field(path, "id") == ["a\nb", "c"]


def test_read_field_types_a_csv_column_as_a_whole(tmp_path):
    from llmcal.runs.predictions import read_field

    path = tmp_path / "p.csv"
    path.write_text(
        "probs_0,probs_1,label,year,pop,code\n0.6,0.4,0,1990,12,007\n0.5,0.5,1,2001,3.5,012\n",
        encoding="utf-8",
    )
    years = read_field(path, "year")
    assert years == [1990, 2001]
    assert all(type(year) is int for year in years)
    assert read_field(path, "pop") == [12.0, 3.5]
    assert read_field(path, "code") == ["007", "012"]  # leading zeros: codes, kept as text


@pytest.mark.parametrize("cell", ["NaN", "inf"])
def test_read_field_refuses_a_non_finite_cell_in_a_column_of_numbers(tmp_path, cell):
    from llmcal.runs.predictions import read_field

    path = tmp_path / "p.csv"
    path.write_text(f"probs_0,probs_1,label,pop\n0.6,0.4,0,12\n0.5,0.5,1,{cell}\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_field(path, "pop")
    assert str(error.value).startswith(f"{path}:3: field 'pop': expected a finite number; found {cell!r}")


@pytest.mark.parametrize(
    ("name", "content", "found"),
    [
        ("p.csv", b"", "the file is empty"),
        ("p.csv", b"\n\r\n  \n", "only blank lines"),
        ("p.csv", b"probs_0,probs_1,label\n", "a header (line 1) and no rows"),
        ("p.csv", b"\xef\xbb\xbfconfidence,correct\n,\n", "a header (line 1) and no rows"),
        ("p.jsonl", b"", "the file is empty"),
        ("p.jsonl", b"\n \n", "only blank lines"),
    ],
)
def test_an_empty_predictions_file_says_what_was_found_and_expected(tmp_path, name, content, found):
    from llmcal.runs.predictions import read_field

    path = tmp_path / name
    path.write_bytes(content)
    for read in (read_predictions, lambda file: read_field(file, "subject")):
        with pytest.raises(InputError) as error:
            read(path)
        message = str(error.value)
        assert message.startswith(f"{path}: no predictions found: ")
        assert found in message
        assert "expected" in message


def test_the_metrics_command_exits_2_with_one_line_for_an_empty_file(tmp_path, capsys):
    from llmcal.cli.app import main

    for content, found in (
        (b"", "the file is empty"),
        (b"probs_0,probs_1,label\n", "the file has a header (line 1)"),
    ):
        path = tmp_path / "empty.csv"
        path.write_bytes(content)
        assert main(["metrics", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith(f"error: {path}: no predictions found: {found}")
        assert len(captured.err.strip().splitlines()) == 1
        assert "Traceback" not in captured.err


def test_a_bom_opens_jsonl_and_csv_predictions_alike(tmp_path):
    lines = tmp_path / "p.jsonl"
    lines.write_bytes(b'\xef\xbb\xbf{"probs": [0.6, 0.4], "label": 0}\n{"probs": [0.3, 0.7], "label": 0}\n')
    table = tmp_path / "p.csv"
    table.write_bytes(b"\xef\xbb\xbfprobs_0,probs_1,label\n0.6,0.4,0\n0.3,0.7,0\n")
    np.testing.assert_array_equal(read_predictions(lines).probs, read_predictions(table).probs)
    lines.write_bytes(b'{"probs": [0.6, 0.4], "label": 0}\n\xef\xbb\xbf{"probs": [0.3, 0.7], "label": 0}\n')
    with pytest.raises(InputError, match=r"p.jsonl:2: not valid JSON"):
        read_predictions(lines)


def test_integral_float_labels_are_indices(tmp_path, write_jsonl):
    lines = write_jsonl(
        tmp_path / "p.jsonl",
        [{"probs": [0.6, 0.4], "label": 1.0}, {"probs": [0.3, 0.7], "label": 0.0}],
    )
    np.testing.assert_array_equal(read_predictions(lines).labels, [1, 0])
    table = tmp_path / "p.csv"
    table.write_text("probs_0,probs_1,label\n0.6,0.4,1.0\n0.3,0.7,0\n", encoding="utf-8")
    np.testing.assert_array_equal(read_predictions(table).labels, [1, 0])
    top = tmp_path / "t.csv"
    top.write_text("confidence,correct\n0.8,1.0\n0.4,0.0\n", encoding="utf-8")
    np.testing.assert_array_equal(read_predictions(top).correct, [1.0, 0.0])


@pytest.mark.parametrize(
    ("label", "found"),
    [("1.5", "1.5"), ("NaN", "nan"), ("Infinity", "inf"), ("true", "True"), ('"NaN"', "'NaN'")],
)
def test_a_label_that_is_not_a_whole_number_is_refused(tmp_path, label, found):
    path = tmp_path / "p.jsonl"
    path.write_text(f'{{"probs": [0.6, 0.4], "label": {label}}}\n', encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_predictions(path)
    assert str(error.value) == f"{path}:1: field 'label': expected an option index in 0..1; found {found}."


def test_nan_in_a_csv_probability_or_label_cell_names_the_cell(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("probs_0,probs_1,label\n0.6,0.4,0\n0.5,NaN,1\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_predictions(path)
    assert str(error.value).startswith(f"{path}:3: field 'probs_1': expected a finite number; found 'NaN'")
    path.write_text("probs_0,probs_1,label\n0.6,0.4,0\n0.5,0.5,NaN\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_predictions(path)
    assert str(error.value) == f"{path}:3: field 'label': expected an option index in 0..1; found 'NaN'."
