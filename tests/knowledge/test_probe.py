"""The probe as a library call: typed findings, the label file's format, and checked settings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from llmcal import InputError
from llmcal.knowledge import ProbeSettings, probe_knowledge
from llmcal.scoring import FakeBackend
from llmcal.tasks.schema import MCItem, OpenItem

ITEMS = [MCItem(f"k{i}", f"Question {i}?", ("oak", "elm", "ash"), i % 3) for i in range(9)]
# Loves "ash": exactly the items whose answer is option 2 are known, by a wide NLL margin.
BACKEND = FakeBackend(favoured=["ash"], bonus=50.0)


def test_items_are_labelled_by_the_model_s_own_answer_with_their_gold_nll():
    result = probe_knowledge(ITEMS, BACKEND, ProbeSettings())
    assert [item.id for item in result.items] == [item.id for item in ITEMS]
    assert [item.known for item in result.items] == [item.answer == 2 for item in ITEMS]
    assert all(item.nll > 0 for item in result.items)
    assert max(i.nll for i in result.items if i.known) < min(i.nll for i in result.items if not i.known)
    assert (result.detector, result.slick_counts) == (None, None)
    assert result.summary_lines(Path("dir/items.jsonl")) == [
        "dir/items.jsonl: 3 of 9 items known (33.3%) by the model's own answers."
    ]
    # Fields that were not computed are absent from the label file, not null.
    first = result.items[0]
    assert result.to_jsonl().splitlines()[0] == json.dumps({"id": "k0", "known": False, "nll": first.nll})


def test_calibration_items_fit_and_score_the_detector():
    result = probe_knowledge(ITEMS, BACKEND, ProbeSettings(), calibration_items=ITEMS[:6])
    assert result.detector is not None
    score = result.detector
    assert (score.n_calibration_items, score.accuracy, score.tpr, score.tnr) == (6, 1.0, 1.0, 1.0)
    assert [item.detector_known for item in result.items] == [item.known for item in result.items]
    assert result.summary_lines(Path("dir/items.jsonl"))[1] == (
        f"NLL threshold {score.detector.threshold:.3f} (fitted on 6 calibration items): "
        "on items.jsonl accuracy 1.000, TPR 1.000, TNR 1.000."
    )
    row = json.loads(result.to_jsonl().splitlines()[2])
    assert list(row) == ["id", "known", "nll", "detector_known"]
    assert row["detector_known"] is True


def test_tpr_is_nan_when_no_probed_item_is_known():
    unknown = [item for item in ITEMS if item.answer != 2]
    result = probe_knowledge(unknown, BACKEND, ProbeSettings(), calibration_items=ITEMS)
    assert result.detector is not None
    assert math.isnan(result.detector.tpr)
    assert result.detector.tnr == 1.0


def test_slick_prompts_give_every_item_a_category_and_the_counts_in_order():
    result = probe_knowledge(ITEMS, BACKEND, ProbeSettings(slick_prompts=2, slick_fewshot=1))
    assert result.slick_counts is not None
    assert list(result.slick_counts) == ["HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"]
    assert sum(result.slick_counts.values()) == len(ITEMS)
    assert all(item.slick == "HighlyKnown" for item in result.items if item.known)
    assert list(json.loads(result.to_jsonl().splitlines()[0])) == ["id", "known", "nll", "slick"]


def test_settings_name_the_bad_value_and_the_allowed_range():
    with pytest.raises(InputError) as error:
        ProbeSettings(slick_prompts=-1)
    assert str(error.value) == "slick_prompts must be 0 (no SliCK categories) or more; got -1."
    with pytest.raises(InputError) as error:
        ProbeSettings(slick_fewshot=0)
    assert str(error.value) == (
        "slick_fewshot must be at least 1 (SliCK prompts differ by their examples); got 0."
    )


OPEN_ITEMS = [
    OpenItem(f"o{i}", f"Which tree is number {i}?", (("oak", "elm", "ash")[i % 3],)) for i in range(30)
]


def test_open_items_are_known_when_the_greedy_answer_matches_and_nll_is_the_first_answers():
    backend = FakeBackend(favoured=["ash"], bonus=50.0, answers=["ash"])
    result = probe_knowledge(
        OPEN_ITEMS, backend, ProbeSettings(style="completion"), calibration_items=OPEN_ITEMS[:15]
    )
    assert [item.known for item in result.items] == [item.answers[0] == "ash" for item in OPEN_ITEMS]
    prompts = [f"{item.question}" for item in OPEN_ITEMS]
    expected = [
        -sum(backend._token_logprobs(prompt, f" {item.answers[0]}"))
        for prompt, item in zip(prompts, OPEN_ITEMS, strict=True)
    ]
    assert [item.nll for item in result.items] == pytest.approx(expected)
    assert result.detector is not None
    assert (result.detector.accuracy, result.detector.tpr, result.detector.tnr) == (1.0, 1.0, 1.0)


ALIASED_ITEMS = [
    OpenItem(f"a{i}", f"Which tree is number {i}?", (("oak", "elm")[i % 2], "ash")) for i in range(10)
]


def test_open_items_read_every_accepted_alias_for_known_and_nll():
    """The model answers "ash", every item's second alias: known, and the NLL is that alias's."""
    backend = FakeBackend(favoured=["ash"], bonus=50.0, answers=["ash"])
    result = probe_knowledge(ALIASED_ITEMS, backend, ProbeSettings(style="completion"))
    assert all(item.known for item in result.items)
    for item, probed in zip(ALIASED_ITEMS, result.items, strict=True):
        by_alias = [-sum(backend._token_logprobs(item.question, f" {answer}")) for answer in item.answers]
        assert probed.nll == pytest.approx(min(by_alias))
        assert probed.nll < by_alias[0]  # the first alias ("oak"/"elm") is far less likely


def test_open_items_refuse_slick_categories_and_mixed_calibration_items():
    backend = FakeBackend(answers=["ash"])
    with pytest.raises(InputError, match="SliCK categories"):
        probe_knowledge(OPEN_ITEMS, backend, ProbeSettings(slick_prompts=2))
    with pytest.raises(InputError, match="of one kind"):
        probe_knowledge(OPEN_ITEMS, backend, ProbeSettings(), calibration_items=ITEMS)
