from __future__ import annotations

from dataclasses import replace

import pytest

from llmcal.errors import InputError
from llmcal.study.settings import PRESETS, Capacity, PreventionPart, Splits, StudySettings, preset


def test_the_presets_are_valid_and_quick_is_smaller_everywhere():
    full, quick = preset("full"), preset("quick")
    assert full.name == "full"
    assert quick.name == "quick"
    for part in ("prevention", "detector", "restore"):
        assert len(getattr(quick, part).seeds) <= len(getattr(full, part).seeds)
        assert getattr(quick, part).splits.n_test < getattr(full, part).splits.n_test
    assert len(full.prevention.seeds) >= 3
    assert len(full.restore.seeds) >= 3
    assert full.prevention.epochs == (1, 2, 4)
    assert [capacity.name for capacity in full.prevention.capacities] == ["lora-r8", "lora-r32", "full"]


def test_an_unknown_preset_is_refused_with_the_choices():
    with pytest.raises(InputError, match="full, quick"):
        preset("fast")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prevention": None, "detector": None, "restore": None}, "nothing to run"),
        ({"n_resamples": 5}, "n_resamples must be at least 10"),
        ({"prevention": PreventionPart(seeds=())}, "PreventionPart.seeds is empty"),
        ({"prevention": PreventionPart(splits=Splits(n_test=5))}, "splits.n_test must be at least 10"),
        ({"prevention": PreventionPart(capacity_losses=("rcft",))}, "capacity_losses names"),
        ({"prevention": PreventionPart(epochs=(0, 1))}, "epoch counts of at least 1"),
        ({"prevention": PreventionPart(capacities=())}, "at least one capacity"),
        (
            {"prevention": PreventionPart(candidates=PRESETS["full"].prevention.candidates[1:])},
            "must include 'sft'",
        ),
    ],
)
def test_settings_no_part_can_run_are_refused_naming_the_field(change, message):
    with pytest.raises(InputError, match=message):
        replace(StudySettings(), **change)


def test_capacity_zero_rank_is_full_fine_tuning():
    assert Capacity("full", 0).full
    assert not Capacity("r8", 8).full


def test_the_record_is_plain_data_with_every_part():
    record = StudySettings().record()
    assert set(record) >= {"prevention", "detector", "restore", "n_resamples", "n_bins", "split_seed"}
    assert record["prevention"]["candidates"][0] == {"loss": "sft", "parameter": "", "values": ()}
