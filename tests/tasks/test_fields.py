"""The fields a breakdown reads (subject or metadata, of items and records), and a missing one's error."""

from __future__ import annotations

import pytest

from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.tasks.fields import field_value, field_values, item_fields
from llmcal.tasks.schema import MCItem

ITEMS = [
    MCItem("a", "Q?", ("x", "y"), 0, subject="geo", metadata={"popularity": 3.2e7, "relation": "capital"}),
    MCItem("b", "Q?", ("x", "y"), 1, subject="geo", metadata={"popularity": 120, "relation": "currency"}),
    MCItem("c", "Q?", ("x", "y"), 0, metadata={"relation": "capital"}),
]


def test_subject_and_metadata_fields_are_read_from_items_and_records():
    assert field_values(ITEMS, "relation", task="t") == ["capital", "currency", "capital"]
    assert field_values(ITEMS[:2], "subject", task="t") == ["geo", "geo"]
    record = ItemRecord("t", "a", 0, 2, "geo", None, (0.0, -1.0), {"popularity": 3.2e7})
    assert field_value(record, "popularity") == 3.2e7
    assert field_value(record, "subject") == "geo"
    assert field_value(record, "relation") is None


def test_item_fields_count_how_many_items_have_each_field():
    assert item_fields(ITEMS) == {"popularity": 2, "relation": 3, "subject": 2}


def test_a_missing_field_names_the_task_the_field_how_many_lack_it_and_what_the_items_have():
    with pytest.raises(InputError) as error:
        field_values(ITEMS, "popularity", task="facts")
    assert str(error.value) == (
        "task 'facts': 1 of 3 items have no field 'popularity' (item 'c' is one). "
        "The items have: popularity (2 of 3), relation, subject (2 of 3)."
    )
    with pytest.raises(
        InputError, match=r"3 of 3 items have no field 'popularty' .* Did you mean: popularity\?"
    ):
        field_values(ITEMS, "popularty", task="facts")
    with pytest.raises(InputError, match="The items have: no subject and no metadata fields"):
        field_values([MCItem("q", "Q?", ("x", "y"), 0)], "subject", task="quiz")
