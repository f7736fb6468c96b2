from __future__ import annotations

import pytest

from llmcal.errors import InputError
from llmcal.study.items import draw_items, training_draw
from llmcal.study.settings import Splits


def test_the_splits_are_disjoint_the_right_sizes_and_the_same_for_the_same_seed():
    splits = Splits(n_test=50, n_calibration=30, n_train=20)
    items = draw_items(splits, 0)
    ids = {split: set(items.ids(split)) for split in ("test", "calibration", "pool")}
    assert len(ids["test"]) == 50
    assert len(ids["calibration"]) == 30
    assert not (ids["test"] & ids["calibration"])
    assert not (ids["pool"] & (ids["test"] | ids["calibration"]))
    assert draw_items(splits, 0).ids("test") == items.ids("test")
    assert draw_items(splits, 1).ids("test") != items.ids("test")


def test_a_training_draw_is_a_seeded_subset_of_the_pool_in_pool_order():
    items = draw_items(Splits(n_test=50, n_calibration=30, n_train=20), 0)
    first = training_draw(items.pool, 20, seed=0)
    assert [item.id for item in first] == [item.id for item in training_draw(items.pool, 20, seed=0)]
    assert {item.id for item in first} != {item.id for item in training_draw(items.pool, 20, seed=1)}
    order = {item.id: index for index, item in enumerate(items.pool)}
    assert [order[item.id] for item in first] == sorted(order[item.id] for item in first)
    assert training_draw(items.pool[:5], 20, seed=0) == items.pool[:5]


def test_splits_larger_than_the_task_are_refused_with_the_counts():
    with pytest.raises(InputError, match="990 items; the study's splits need 1200"):
        draw_items(Splits(n_test=1000, n_calibration=100, n_train=100), 0)
