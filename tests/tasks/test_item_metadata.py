"""Aliases and metadata fields of items: parsed from every file format, kept through records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.runs.records import parse_record_line, record_line
from llmcal.tasks.loading import load_items
from llmcal.tasks.schema import MCItem, item_from_record


def test_scalar_fields_outside_the_schema_become_metadata_and_lists_are_ignored() -> None:
    record = {
        "id": "q", "question": "Capital of Peru?", "choices": ["Lima", "Cusco"], "answer": 0,
        "aliases": ["Ciudad de los Reyes"], "popularity": 3.2e7, "relation": "capital", "rank": 3,
        "official": True, "tags": ["geo"], "extra": {"a": 1}, "missing": None,
    }  # fmt: skip
    item = item_from_record(record, default_id="0")
    assert item.aliases == ("Ciudad de los Reyes",)
    assert item.metadata == {"popularity": 3.2e7, "relation": "capital", "rank": 3, "official": True}
    assert item.to_record() == {
        "id": "q", "question": "Capital of Peru?", "choices": ["Lima", "Cusco"], "answer": 0,
        "aliases": ["Ciudad de los Reyes"], "popularity": 3.2e7, "relation": "capital", "rank": 3,
        "official": True,
    }  # fmt: skip
    assert item_from_record(item.to_record(), default_id="0") == item


def test_an_item_without_aliases_or_metadata_keeps_its_old_record() -> None:
    item = MCItem("q", "Q?", ("a", "b"), 1)
    assert item.to_record() == {"id": "q", "question": "Q?", "choices": ["a", "b"], "answer": 1}


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("aliases", "Lima", "expected a list of non-empty strings"),
        ("aliases", ["Lima", " "], "expected a list of non-empty strings"),
        ("aliases", [3], "expected a list of non-empty strings"),
        ("popularity", float("nan"), "expected a finite number"),
        ("popularity", float("inf"), "expected a finite number"),
    ],
)
def test_bad_aliases_and_non_finite_metadata_name_the_field(
    tmp_path: Path, field: str, value: object, problem: str
) -> None:
    record = {"id": "q", "question": "Q?", "choices": ["a", "b"], "answer": 0, field: value}
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(InputError, match=f"items.jsonl:1: field '{field}': {problem}"):
        load_items(path)


def test_csv_aliases_are_a_json_list_and_choice_columns_are_not_metadata(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        'id,question,choice_0,choice_1,answer,aliases,relation\nq,Q?,Lima,Cusco,0,"[""Rimac""]",capital\n'
    )
    (item,) = load_items(path)
    assert item.choices == ("Lima", "Cusco")
    assert item.aliases == ("Rimac",)
    assert item.metadata == {"relation": "capital"}
    path.write_text('id,question,choices,answer,aliases\nq,Q?,"[""a"",""b""]",0,Rimac\n')
    with pytest.raises(InputError, match=r"items.csv:2: field 'aliases': expected a JSON list"):
        load_items(path)


def test_records_keep_metadata_and_omit_it_when_empty() -> None:
    record = ItemRecord("t", "q", 0, 2, None, None, (-1.0, -2.0), {"popularity": 12.5, "kind": "city"})
    line = record_line(record)
    assert json.loads(line)["metadata"] == {"popularity": 12.5, "kind": "city"}
    assert parse_record_line(line, where="x") == record
    plain = ItemRecord("t", "q", 0, 2, None, None, (-1.0, -2.0))
    assert "metadata" not in json.loads(record_line(plain))
    broken = json.dumps({**json.loads(line), "metadata": {"kind": [1]}})
    with pytest.raises(InputError, match="x: not a valid llmcal record"):
        parse_record_line(broken, where="x")
