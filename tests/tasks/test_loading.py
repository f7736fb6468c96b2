"""Loading items: the three file formats agree, CSV choices may be JSON, field maps convert schemas."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llmcal import InputError
from llmcal.tasks import FieldMap, MCItem, load_items
from llmcal.tasks.loading import items_from_rows

RECORDS = [
    {
        "id": "a",
        "question": "Capital of France?",
        "choices": ["Paris", "Lyon"],
        "answer": 0,
        "subject": "geo",
    },
    {
        "id": "b",
        "question": "Sky colour?",
        "choices": ["green", "blue", "red"],
        "answer": 1,
        "context": "Look up.",
    },
]


def test_the_three_file_formats_give_the_same_items(tmp_path):
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    csv_choices = tmp_path / "items.csv"
    csv_choices.write_text(
        "id,question,choice_0,choice_1,choice_2,answer,subject,context\n"
        "a,Capital of France?,Paris,Lyon,,0,geo,\n"
        "b,Sky colour?,green,blue,red,1,,Look up.\n",
        encoding="utf-8",
    )
    parquet = tmp_path / "items.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [{**r, "subject": r.get("subject"), "context": r.get("context")} for r in RECORDS]
        ),
        parquet,
    )
    expected = [
        MCItem("a", "Capital of France?", ("Paris", "Lyon"), 0, subject="geo"),
        MCItem("b", "Sky colour?", ("green", "blue", "red"), 1, context="Look up."),
    ]
    for path in (jsonl, csv_choices, parquet):
        assert load_items(path) == expected, path.suffix


def test_csv_choices_may_be_a_json_list(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text('question,choices,answer\nQ?,"[""x"", ""y""]",1\n', encoding="utf-8")
    assert load_items(path) == [MCItem("2", "Q?", ("x", "y"), 1)]  # id defaults to the line number


def test_field_map_converts_other_schemas():
    rows = [
        {"q": "Q1?", "options": ["a", "b", "c"], "gold": "B", "uid": 7},
        {"q": "Q2?", "options": ["a", "b", "c"], "gold": "c", "uid": 8},
        {"q": "Q3?", "options": ["a", "b", "c"], "gold": 3, "uid": 9},
    ]
    mapping = FieldMap(question="q", choices="options", answer="gold", id="uid", answer_base=1)
    items = items_from_rows(enumerate(rows), "rows", convert=mapping)
    assert [(item.id, item.answer) for item in items] == [("7", 1), ("8", 2), ("9", 2)]
    separate = FieldMap(question="goal", choices=("sol1", "sol2"), answer="label")
    assert items_from_rows([(0, {"goal": "g", "sol1": "x", "sol2": "y", "label": 1})], "r", convert=separate)[
        0
    ].choices == ("x", "y")
    with pytest.raises(InputError, match="rows:0: field 'gold': cannot map answer 'Z'"):
        items_from_rows([(0, {**rows[0], "gold": "Z"})], "rows", convert=mapping)
    with pytest.raises(InputError, match="field 'q': missing"):
        items_from_rows([(0, {"options": ["a", "b"], "gold": 0})], "rows", convert=mapping)
