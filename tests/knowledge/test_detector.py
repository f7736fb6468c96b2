from __future__ import annotations

import math

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
    # The cloze style reaches the prompt: "completion" drops the "Question: ... Answer:" frame.
    spy = _RecordingBackend()
    known_items(items[:1], spy, format="cloze", style="completion")
    known_items(items[:1], spy, format="cloze")
    assert spy.contexts == ["Question 0?", "Question: Question 0?\nAnswer:"]


class _RecordingBackend:
    def __init__(self):
        from llmcal.scoring import FakeBackend

        self.fake = FakeBackend()
        self.contexts = []

    def score(self, requests, *, on_progress=None):
        self.contexts.extend(request.context for request in requests)
        return self.fake.score(requests, on_progress=on_progress)

    def describe(self):
        return self.fake.describe()


def _scored(item_id, totals, answer=0):
    options = tuple(ContinuationScore((value,), False) for value in totals)
    return ItemRecord("t", item_id, answer, len(totals), None, options, None)


def test_slick_weakly_known_share_follows_the_tempered_sampling_probability():
    from llmcal.knowledge import slick_categories

    # Gold (option 1) has probability 0.1 untempered; at temperature 0.5 the sampling weights are
    # p**2, so gold is drawn with q = 0.01 / (0.81 + 0.01) and an item is WeaklyKnown with 1 - (1 - q)**16.
    items = [_scored(f"i{n}", [math.log(0.9), math.log(0.1)], answer=1) for n in range(600)]
    categories = slick_categories([items], samples=16, temperature=0.5, rng=0)
    share = sum(value == "WeaklyKnown" for value in categories.values()) / len(items)
    q = 0.01 / 0.82
    assert share == pytest.approx(1 - (1 - q) ** 16, abs=0.05)
    # Sampled hits add up across prompts: with two prompts the chance of a hit is that of 32 draws.
    two = slick_categories([items, items], samples=16, temperature=0.5, rng=0)
    share_two = sum(value == "WeaklyKnown" for value in two.values()) / len(items)
    assert share_two == pytest.approx(1 - (1 - q) ** 32, abs=0.05)
    # The documented defaults are 16 samples at temperature 0.5, seed 0.
    assert slick_categories([items]) == categories
    assert slick_categories([items], rng=1) != categories


def test_slick_needs_a_prompt_and_names_the_problem():
    from llmcal.knowledge import slick_categories

    with pytest.raises(InputError, match=r"^slick_categories needs records from at least one prompt\.$"):
        slick_categories([])
    first = [_scored("a", [-1.0, -2.0]), _scored("b", [-1.0, -2.0])]
    with pytest.raises(
        InputError, match=r"^Every prompt's records must cover the same items in the same order\.$"
    ):
        slick_categories([first, first[::-1]])
    # The first prompt's order is the reference: a second prompt with one item more is refused too.
    with pytest.raises(InputError, match="same items"):
        slick_categories([first, [*first, _scored("c", [-1.0, -2.0])]])


def test_an_nll_exactly_at_the_threshold_counts_as_known():
    from llmcal.knowledge.detector import ThresholdDetector

    detector = ThresholdDetector(threshold=0.5, tpr=1.0, tnr=1.0)
    assert detector.is_known([0.25, 0.5, 0.75]).tolist() == [True, True, False]


def test_youden_checks_its_input_word_for_word():
    cases = [
        (([0.1, 0.2], [True]), "nll and known must be non-empty and aligned; got (2,) and (1,)."),
        (([[0.1, 0.2]], [[True, False]]), "nll and known must be non-empty and aligned; got (1, 2) and "
         "(1, 2)."),
        (([], []), "nll and known must be non-empty and aligned; got (0,) and (0,)."),
        (([0.1, float("nan")], [True, False]), "nll contains NaN or infinite values."),
        (([0.1, 0.2], [True, True]), "The calibration split needs known and unknown items to fit a "
         "threshold; it has 2 known and 0 unknown."),
    ]  # fmt: skip
    for (nll, known), message in cases:
        with pytest.raises(InputError) as error:
            youden_threshold(nll, known)
        assert str(error.value) == message


def test_youden_threshold_below_every_value_when_that_separates_best():
    # Known items have the higher NLL here: calling nothing known (t below all values) ties calling all
    # known; ties go to the smaller threshold, one below the smallest NLL.
    detector = youden_threshold([1.0, 2.0], [False, True])
    assert (detector.threshold, detector.tpr, detector.tnr) == (0.0, 0.0, 1.0)
    assert youden_threshold([1.0, 2.0], [0, 1]) == detector  # 0/1 flags read as booleans
