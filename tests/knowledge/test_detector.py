from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcal import InputError
from llmcal.confidence.records import ItemRecord
from llmcal.knowledge import known_from_records, youden_threshold
from llmcal.scoring import ContinuationScore


def brute_force(nll, known):
    best = (-1.0, None)
    for threshold in sorted({*nll, min(nll) - 1, max(nll) + 1}):
        predicted = np.asarray(nll) <= threshold
        tpr = predicted[known].mean()
        tnr = (~predicted[~known]).mean()
        best = max(best, (tpr + tnr, threshold), key=lambda pair: pair[0])
    return best[0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10, allow_nan=False), st.booleans()), min_size=2, max_size=40))
def test_youden_threshold_is_optimal(pairs):
    nll = np.array([p[0] for p in pairs])
    known = np.array([p[1] for p in pairs])
    if known.all() or (~known).all():
        with pytest.raises(InputError, match="needs known and unknown items"):
            youden_threshold(nll, known)
        return
    detector = youden_threshold(nll, known)
    assert detector.tpr + detector.tnr == pytest.approx(brute_force(nll, known))
    predicted = detector.is_known(nll)
    assert predicted[known].mean() == pytest.approx(detector.tpr)


def test_perfectly_separable_nll_gives_a_perfect_detector():
    detector = youden_threshold([0.1, 0.3, 0.2, 4.0, 5.0], [True, True, True, False, False])
    assert (detector.tpr, detector.tnr) == (1.0, 1.0)
    assert 0.3 < detector.threshold < 4.0


def test_ground_truth_is_the_model_s_own_answer():
    def record(item_id, totals, answer):
        options = tuple(ContinuationScore((value,), False) for value in totals)
        return ItemRecord("t", item_id, answer, len(totals), None, options, None)

    records = [record("right", [-1.0, -3.0], 0), record("wrong", [-1.0, -3.0], 1)]
    assert known_from_records(records) == {"right": True, "wrong": False}


def test_slick_categories_follow_greedy_and_sampled_answers():
    from llmcal.knowledge import slick_categories

    def record(item_id, totals, answer=0):
        options = tuple(ContinuationScore((value,), False) for value in totals)
        return ItemRecord("t", item_id, answer, len(totals), None, options, None)

    prompt_a = [record("high", [-0.1, -5]), record("maybe", [-0.1, -5]), record("weak", [-1.0, -0.9]),
                record("none", [-60.0, -0.1])]  # fmt: skip
    prompt_b = [record("high", [-0.1, -5]), record("maybe", [-5, -0.1]), record("weak", [-1.0, -0.9]),
                record("none", [-60.0, -0.1])]  # fmt: skip
    categories = slick_categories([prompt_a, prompt_b], samples=16, temperature=0.5, rng=0)
    assert categories == {
        "high": "HighlyKnown",
        "maybe": "MaybeKnown",
        "weak": "WeaklyKnown",
        "none": "Unknown",
    }
    with pytest.raises(InputError, match="same items"):
        slick_categories([prompt_a, prompt_b[::-1]])


def test_known_items_scores_the_prompt_format_it_is_given():
    from llmcal.knowledge.ground_truth import known_items
    from llmcal.scoring import FakeBackend
    from llmcal.tasks.schema import MCItem

    items = [MCItem(f"k{i}", f"Question {i}?", ("oak", "elm", "ash"), i % 3) for i in range(9)]
    backend = FakeBackend(favoured=["B", "ash"], bonus=50.0)  # loves the letter B and the word "ash"
    assert known_items(items, backend, format="letters") == [item.answer == 1 for item in items]
    assert known_items(items, backend, format="cloze") == [item.answer == 2 for item in items]
