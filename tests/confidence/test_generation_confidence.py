"""Confidence in generated answers: the five methods, verbalised parsing, records and predictions."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from llmcal.confidence import generation_methods
from llmcal.confidence.generation_extraction import GenerationSettings, check_generation_methods
from llmcal.confidence.generation_passes import ANSWER, P_TRUE, VERBAL
from llmcal.confidence.predictions import answered, generation_confidence, method_predictions
from llmcal.confidence.records import GenerationRecord, ItemRecord
from llmcal.confidence.verbalized import VerbalConfidence, read_verbal_confidence
from llmcal.errors import InputError
from llmcal.runs.records import parse_record_line, record_line
from llmcal.scoring.requests import ContinuationScore, Generation


def _record(
    text: str = " Paris",
    logprobs: tuple[float, ...] = (-0.5, -1.5, -0.1),
    n_answer: int = 2,
    *,
    p_true: tuple[float, float] | None = (-0.2, -1.9),
    verbal: str | None = " 0.7",
    answers: tuple[str, ...] = ("Paris",),
    item_id: str = "q",
) -> GenerationRecord:
    generation = Generation(text, tuple(range(len(logprobs))), logprobs, n_answer, "stop")
    return GenerationRecord("t", item_id, answers, None, generation, p_true, verbal, {"pop": 3.0})


def test_sequence_mean_and_min_probability_read_the_answer_tokens_only() -> None:
    record = _record()  # the third token (the newline) ends the answer and is not part of it
    assert generation_confidence(record, "seq-prob") == pytest.approx(math.exp(-2.0))
    assert generation_confidence(record, "mean-prob") == pytest.approx(math.exp(-1.0))
    assert generation_confidence(record, "min-prob") == pytest.approx(math.exp(-1.5))


def test_an_empty_answer_is_judged_by_its_first_token() -> None:
    record = _record(text="", logprobs=(-0.3, -2.0), n_answer=0)
    for method in ("seq-prob", "mean-prob", "min-prob"):
        assert generation_confidence(record, method) == pytest.approx(math.exp(-0.3))


def test_p_true_is_true_normalised_against_false() -> None:
    record = _record(p_true=(math.log(0.3), math.log(0.1)))
    assert generation_confidence(record, "p-true") == pytest.approx(0.75)
    assert generation_confidence(_record(p_true=(-1000.0, 0.0)), "p-true") == pytest.approx(0.0)
    assert generation_confidence(_record(p_true=(0.0, -1000.0)), "p-true") == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (" 0.8", 0.8),
        ("0.85\n", 0.85),
        (" .7 or so", 0.7),
        (" 1", 1.0),
        (" 0", 0.0),
        (" 85%", 0.85),
        (" 100%", 1.0),
        (" 85 percent", 0.85),
        (" 0,9", 0.9),
        ("Probability 0.3, maybe 0.4", 0.3),
    ],
)
def test_verbalised_probabilities_are_read(text: str, value: float) -> None:
    assert read_verbal_confidence(text) == VerbalConfidence(pytest.approx(value))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (" I think so", "no number"),
        ("", "no number"),
        (" v2", "no number"),
        (" 80", "a number above 1 without a percent sign (80)"),
        (" 150%", "a percentage above 100 (150%)"),
        (" 101%", "a percentage above 100 (101%)"),
        (" 1.5", "a number above 1 without a percent sign (1.5)"),
        (" -0.5", "a negative number (-0.5)"),
    ],
)
def test_unreadable_verbalised_answers_say_why(text: str, problem: str) -> None:
    assert read_verbal_confidence(text) == VerbalConfidence(None, problem)


def test_verbal_gives_no_confidence_for_an_unreadable_answer_and_answered_says_so() -> None:
    records = [
        _record(verbal=" 0.6", item_id="a"),
        _record(verbal=" unsure", item_id="b"),
        _record(item_id="c"),
    ]
    assert generation_confidence(records[1], "verbal") is None
    assert answered(records, "verbal").tolist() == [True, False, True]
    assert answered(records, "seq-prob").tolist() == [True, True, True]
    with pytest.raises(InputError, match=r"t/b: method 'verbal' gives this answer no confidence"):
        method_predictions(records, "verbal", "src")
    predictions = method_predictions(records, "verbal", "src", answered(records, "verbal"))
    assert predictions.confidences.tolist() == pytest.approx([0.6, 0.7])
    assert predictions.probs is None
    assert predictions.n_items == 2


def test_correctness_is_exact_match_against_any_alias() -> None:
    records = [
        _record(text=" paris.", answers=("Lutetia", "Paris"), item_id="a"),
        _record(text=" Lyon", answers=("Paris",), item_id="b"),
    ]
    assert method_predictions(records, "seq-prob", "src").correct.tolist() == [1.0, 0.0]


def test_a_record_without_the_pass_a_method_needs_is_an_error_not_a_missing_confidence() -> None:
    with pytest.raises(InputError, match="no scores for method 'p-true'"):
        answered([_record(p_true=None)], "p-true")
    with pytest.raises(InputError, match="no scores for method 'verbal'"):
        answered([_record(verbal=None)], "verbal")


def test_methods_of_the_other_kind_of_item_are_refused_by_name() -> None:
    mc = ItemRecord(
        "t", "a", 0, 2, None, (ContinuationScore((-1.0,), True), ContinuationScore((-2.0,), False)), None
    )
    with pytest.raises(InputError, match="'verbal' is a method for open-ended answers"):
        method_predictions([mc], "verbal", "src")
    with pytest.raises(InputError, match="'sum' is not a method for open-ended answers"):
        method_predictions([_record()], "sum", "src")
    with pytest.raises(InputError, match="mix multiple-choice and open-ended"):
        method_predictions([mc, _record()], "sum", "src")


def test_generation_records_round_trip_through_json_and_are_told_from_mc_records() -> None:
    record = _record(text=" Zürich", verbal=" 0.7 ✓")
    line = record_line(record)
    assert "Zürich" in line  # written as UTF-8 text, not escapes
    assert parse_record_line(line, where="f:1") == record
    mc = ItemRecord("t", "a", 0, 2, None, (ContinuationScore((-1.0,), True),) * 2, (-0.1, -2.0), {"x": 1})
    assert parse_record_line(record_line(mc), where="f:2") == mc
    with pytest.raises(InputError, match=r"f:3: not a valid llmcal record"):
        parse_record_line(line.replace('"stop": "stop"', '"stop": "tired"'), where="f:3")
    with pytest.raises(InputError, match=r"f:4: not a valid llmcal record"):
        parse_record_line("[1, 2]", where="f:4")


def test_non_finite_log_probabilities_stop_at_the_item() -> None:
    with pytest.raises(InputError, match="t/q: the model gave non-finite"):
        _record(logprobs=(-0.5, float("nan"), -0.1))
    with pytest.raises(InputError, match="t/q: the model gave non-finite"):
        _record(p_true=(float("-inf"), -1.0))


def test_settings_run_only_the_passes_their_methods_need() -> None:
    assert GenerationSettings(("seq-prob", "min-prob")).passes == (ANSWER,)
    assert GenerationSettings(("verbal", "seq-prob")).passes == (ANSWER, VERBAL)
    assert GenerationSettings().passes == (ANSWER, P_TRUE, VERBAL)
    assert GenerationSettings().scoring_passes == 3
    with pytest.raises(InputError, match="`max_new_tokens` must be a positive integer; got 0") as error:
        GenerationSettings(max_new_tokens=0)
    assert error.value.parameter == "max_new_tokens"


def test_method_names_are_checked_with_a_suggestion() -> None:
    assert check_generation_methods(["verbal", "p-true", "verbal"]) == ("verbal", "p-true")
    with pytest.raises(InputError, match="p-true"):
        check_generation_methods(["p_true"])
    with pytest.raises(InputError, match="empty"):
        check_generation_methods([])


def test_every_registered_generation_method_gives_a_probability() -> None:
    samples = tuple(
        Generation(text, (i,), (-0.3 * (i + 1),), 1, "stop")
        for i, text in enumerate([" Paris", " Lyon", " paris"])
    )
    record = replace(_record(), samples=samples, sample_classes=(0, 0, 1, 0))
    for name in generation_methods.GENERATION_METHODS.names():
        value = generation_confidence(record, name)
        assert value is not None
        assert 0.0 <= value <= 1.0
    assert np.isclose(generation_confidence(record, "verbal") or 0, 0.7)


def test_a_method_says_why_it_gave_no_confidence_in_words_that_group_alike_answers():
    why = generation_methods.GENERATION_METHODS.get("verbal").why_none
    assert why(_record(verbal=" unsure")) == "no number"
    assert why(_record(verbal=" -0.3")) == why(_record(verbal=" -0.7")) == "a negative number"
    assert why(_record(verbal=" 80")) == "a number above 1 without a percent sign"
    assert generation_methods.GENERATION_METHODS.get("seq-prob").why_none(_record()) == "no confidence"
