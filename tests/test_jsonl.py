"""The strict JSON codec of the layers below ``llmcal.runs`` (``llmcal.jsonl``)."""

from __future__ import annotations

import json
import math

import pytest

from llmcal.errors import InputError
from llmcal.jsonl import json_lines, json_round_trip, json_text, parse_json, read_json_file

VALUE = {"b": [1, 2.5, "é"], "a": None, "c": (True, "x")}


def test_json_text_writes_what_json_dumps_writes_with_the_same_options() -> None:
    assert json_text(VALUE) == json.dumps(VALUE)
    assert json_text(VALUE, indent=1) == json.dumps(VALUE, indent=1)
    assert json_text(VALUE, sort_keys=True) == json.dumps(VALUE, sort_keys=True)
    assert json_text(VALUE, ensure_ascii=False) == json.dumps(VALUE, ensure_ascii=False)
    assert "é" in json_text(VALUE, ensure_ascii=False)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_json_text_refuses_what_strict_json_cannot_say(number: float) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        json_text({"nll": number})
    with pytest.raises(ValueError, match="Out of range float"):
        json_lines([{"ok": 1.0}, {"nll": number}])


def test_json_lines_is_one_line_per_value_each_ending_in_a_newline() -> None:
    assert json_lines([{"a": 1}, [2], "x"]) == '{"a": 1}\n[2]\n"x"\n'
    assert json_lines([]) == ""


def test_json_round_trip_is_what_a_reader_gets_back() -> None:
    assert json_round_trip({1: (1, 2), "x": [("a",)]}) == {"1": [1, 2], "x": [["a"]]}


def test_parse_json_names_where_the_text_came_from() -> None:
    assert parse_json('{"a": [1]}', where="f") == {"a": [1]}
    with pytest.raises(
        InputError, match=r"^items\.csv:3: not valid JSON \(Expecting value, line 1 column 1\)\.$"
    ):
        parse_json("not json", where="items.csv:3")
    with pytest.raises(InputError, match=r"^f: JSON this reader cannot hold"):
        parse_json("[" * 100_000 + "]" * 100_000, where="f")


def test_read_json_file_names_the_file_for_every_way_it_can_fail(tmp_path) -> None:
    path = tmp_path / "record.json"
    with pytest.raises(InputError, match=r"record\.json: no such file\.$"):
        read_json_file(path)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(
        InputError, match=r"record\.json: not valid UTF-8 \(invalid start byte at byte 7\)\.$"
    ):
        read_json_file(path)
    path.write_text('{"a": ', encoding="utf-8")
    with pytest.raises(InputError, match=r"record\.json: not valid JSON"):
        read_json_file(path)
    with pytest.raises(InputError, match=r": unreadable \(Is a directory\)\.$"):
        read_json_file(tmp_path)  # a directory
    path.write_text('{"a": [1, "é"]}\n', encoding="utf-8")
    assert read_json_file(path) == {"a": [1, "é"]}
