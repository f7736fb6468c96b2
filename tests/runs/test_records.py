"""Record lines: item records round-trip through JSON, field by field."""

from __future__ import annotations

import json

import pytest

from llmcal import InputError
from llmcal.confidence import (
    ItemRecord,
)
from llmcal.runs.records import parse_record_line, record_line
from llmcal.scoring import ContinuationScore

RECORD = ItemRecord(
    task="t",
    id="q",
    answer=1,
    n_options=3,
    subject=None,
    options=(
        ContinuationScore((-1.0, -3.0), False),  # sum -4, mean -2, min -3
        ContinuationScore((-2.5,), True),  # sum -2.5, mean -2.5, min -2.5
        ContinuationScore((-0.5, -0.5, -4.0), False),  # sum -5, mean -5/3, min -4
    ),
    letters=(-2.0, -0.1, -3.0),
)


def test_records_round_trip_through_json():
    assert parse_record_line(record_line(RECORD), where="x:1") == RECORD
    with pytest.raises(InputError, match="x:3: not a valid llmcal record"):
        parse_record_line('{"task": "t"}', where="x:3")


def test_records_round_trip_through_json_field_by_field():
    options = (ContinuationScore((-0.5, -1.25), True), ContinuationScore((-2.0,), False))
    full = ItemRecord("t", "q1", 1, 2, "geography", options, (-0.1, -2.3))
    assert parse_record_line(record_line(full), where="x") == full
    assert json.loads(record_line(full))["subject"] == "geography"
    bare = ItemRecord("t", "q2", 0, 2, None, None, None)
    assert json.loads(record_line(bare))["options"] is None
    assert json.loads(record_line(bare))["letters"] is None
    assert parse_record_line(record_line(bare), where="x") == bare
    with pytest.raises(
        InputError, match=r"^f\.jsonl:3: not a valid llmcal record \(KeyError: 'options'\)\.$"
    ):
        parse_record_line('{"id": "q"}', where="f.jsonl:3")
