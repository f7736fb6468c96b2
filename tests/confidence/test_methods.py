"""Confidence methods: registered objects declaring their request family, and the probabilities each gives."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy.special import softmax

from llmcal import InputError
from llmcal.confidence import (
    ExtractionSettings,
    ItemRecord,
    check_methods,
    extract_records,
    probabilities,
)
from llmcal.confidence.extraction import request_families, scoring_passes
from llmcal.confidence.families import CONTINUATIONS, LETTERS, FamilyScores
from llmcal.confidence.methods import METHODS, confidence_method
from llmcal.runs.records import record_line
from llmcal.scoring import ContinuationScore, FakeBackend
from llmcal.tasks.schema import MCItem

ITEMS = [MCItem(f"m{i}", f"Question {i}?", ("oak", "elm", "ash"), i % 3) for i in range(4)]


class _CountingBackend(FakeBackend):
    """A fake model that remembers every request's context, one list per ``score`` call."""

    def __init__(self):
        super().__init__(favoured=["ash"])
        self.passes = []

    def score(self, requests, *, on_progress=None):
        self.passes.append([request.context for request in requests])
        return super().score(requests, on_progress=on_progress)


def test_every_method_declares_its_family_and_continuation_methods_share_one():
    assert {name: METHODS.get(name).family for name in METHODS} == {
        "sum": CONTINUATIONS,
        "mean": CONTINUATIONS,
        "min": CONTINUATIONS,
        "choice": LETTERS,
    }
    assert all(METHODS.get(name).name == name for name in METHODS)


@pytest.mark.parametrize(
    ("methods", "passes"),
    [((), 0), (("sum",), 1), (("sum", "mean", "min"), 1), (("choice",), 1), (("min", "choice"), 2)],
)
def test_scoring_passes_counts_distinct_families(methods, passes):
    assert scoring_passes(methods) == passes
    assert ExtractionSettings(methods).scoring_passes == passes
    backend = _CountingBackend()
    extract_records(ITEMS, backend, ExtractionSettings(methods), task="t")
    assert len(backend.passes) == passes


def test_unknown_methods_are_named_with_a_suggestion():
    with pytest.raises(InputError, match=r"Unknown confidence method 'men'\. Did you mean: mean"):
        scoring_passes(["sum", "men"])


def test_families_are_scored_in_registration_order_whatever_order_the_methods_come_in():
    assert request_families(["choice", "sum"]) == [CONTINUATIONS, LETTERS]
    backend = _CountingBackend()
    extract_records(ITEMS[:1], backend, ExtractionSettings(("choice", "sum")), task="t")
    assert backend.passes[0] == ["Question: Question 0?\nAnswer:"]  # the continuation pass first
    assert "A." in backend.passes[1][0]  # then the letters prompt


def test_a_new_method_needs_one_registration_and_joins_its_family_s_pass(scratch_registry):
    @confidence_method("max", CONTINUATIONS)
    def _most_likely_token(record):
        return None if record.options is None else [max(o.token_logprobs) for o in record.options]

    assert METHODS.get("max").read_scores is _most_likely_token
    assert scoring_passes(["sum", "max"]) == 1
    backend = _CountingBackend()
    records = extract_records(ITEMS, backend, ExtractionSettings(("max",)), task="t")
    assert len(backend.passes) == 1
    assert all(record.options is not None and record.letters is None for record in records)
    expected = [max(o.token_logprobs) for o in records[0].options]
    softmax_of_max = np.exp(expected) / np.exp(expected).sum()
    np.testing.assert_allclose(probabilities(records[:1], "max").probs[0], softmax_of_max)


def test_the_default_settings_compute_every_registered_method(scratch_registry):
    assert ExtractionSettings().methods == ("sum", "mean", "min", "choice")
    confidence_method("letters-again", LETTERS)(lambda record: None)
    assert ExtractionSettings().methods == ("sum", "mean", "min", "choice", "letters-again")


def test_a_lazily_registered_method_is_imported_only_when_a_run_needs_it(
    scratch_registry, tmp_path, monkeypatch
):
    (tmp_path / "top_token_method.py").write_text(
        "from llmcal.confidence.families import CONTINUATIONS\n"
        "from llmcal.confidence.methods import ConfidenceMethod\n"
        "METHOD = ConfidenceMethod('top', CONTINUATIONS,\n"
        "                          lambda record: [max(o.token_logprobs) for o in record.options])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    METHODS.add_lazy("top", "top_token_method:METHOD")
    assert "top" in METHODS.names()
    assert not METHODS.is_loaded("top")
    assert scoring_passes(["sum"]) == 1
    assert not METHODS.is_loaded("top")  # a run without it does not import it
    assert scoring_passes(["sum", "top"]) == 1  # it reads the continuations: their pass, shared
    records = extract_records(ITEMS[:2], _CountingBackend(), ExtractionSettings(("top",)), task="t")
    assert probabilities(records, "top").probs.shape == (2, 3)


def test_extraction_runs_a_family_for_any_method_name_declaring_it(scratch_registry):
    def _letters_again(record):
        return None if record.letters is None else list(record.letters)

    confidence_method("letters-again", LETTERS)(_letters_again)
    records = extract_records(ITEMS, FakeBackend(), ExtractionSettings(("letters-again",)), task="t")
    assert all(record.letters is not None and record.options is None for record in records)


def test_registering_a_method_name_twice_is_refused(scratch_registry):
    with pytest.raises(ValueError, match="confidence method 'sum' is already registered"):
        confidence_method("sum", LETTERS)(lambda record: None)


def test_two_families_cannot_fill_the_same_record_field():
    scores = FamilyScores(letters=(-1.0,))
    assert scores.merged_with(FamilyScores(options=(ContinuationScore((-2.0,), False),))).letters == (-1.0,)
    with pytest.raises(InputError) as error:
        scores.merged_with(FamilyScores(letters=(-3.0,)))
    assert str(error.value) == (
        "Two request families produced the same record field; each family must fill its own field of "
        "ItemRecord (see llmcal.confidence.families)."
    )


# sha256 of records.jsonl text written by the code before methods became registered objects.
GOLDEN_RECORDS = {
    (("sum", "mean", "min", "choice"), "cloze", "qa", 0): (
        "03ca223bf8038fdda3bfad53ec4e5f526cd764d6f11efca857b444d0703e957c"
    ),
    (("choice",), "cloze", "qa", 2): "b36863893471cb336406eb3bfd774b9b1fd07319a7f661ef0b83bbc91c5b4e75",
    (("min",), "letters", "partial", 1): "9b6c7544b4da65c4f39453ca70947c928bba3109c9346e021d34789708e84f25",
    (("choice", "mean"), "cloze", "completion", 3): (
        "8c94674c7029f263bebf8bda1f5adab8de42554104dfcf181d842bb74b385572"
    ),
}


@pytest.mark.parametrize("case", list(GOLDEN_RECORDS), ids=str)
def test_record_lines_are_byte_identical_to_before(case):
    methods, prompt_format, style, num_fewshot = case
    choices = ("red", "green light", "blue", "the yellow one")
    items = [MCItem(f"g{i}", f"Golden question {i} about _ things?", choices[: 2 + i % 3], i % 2,
                    subject="s" if i % 2 else None) for i in range(7)]  # fmt: skip
    settings = ExtractionSettings(methods, format=prompt_format, num_fewshot=num_fewshot, seed=5)
    backend = FakeBackend(favoured=["blue", "B"])
    records = extract_records(items, backend, settings, task="golden", style=style, fewshot_pool=items)
    text = "".join(record_line(record) + "\n" for record in records)
    assert hashlib.sha256(text.encode()).hexdigest() == GOLDEN_RECORDS[case]


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


@pytest.mark.parametrize(
    ("method", "scores"),
    [
        ("sum", [-4.0, -2.5, -5.0]),
        ("mean", [-2.0, -2.5, -5.0 / 3.0]),
        ("min", [-3.0, -2.5, -4.0]),
        ("choice", [-2.0, -0.1, -3.0]),
    ],
)
def test_each_method_is_a_softmax_of_its_scores(method, scores):
    probs, labels, _ = probabilities([RECORD], method)
    np.testing.assert_allclose(probs[0], softmax(scores))
    assert labels.tolist() == [1]


def test_methods_disagree_where_they_should():
    # Length normalisation flips the prediction from option 1 (sum) to option 2 (mean).
    assert probabilities([RECORD], "sum")[0].argmax() == 1
    assert probabilities([RECORD], "mean")[0].argmax() == 2


def test_ragged_option_counts_are_zero_padded():
    two = ItemRecord(
        "t", "r", 0, 2, None, (ContinuationScore((-1.0,), False), ContinuationScore((-2.0,), False)), None
    )
    probs, _, _ = probabilities([RECORD, two], "sum")
    assert probs.shape == (2, 3)
    assert probs[1, 2] == 0.0
    assert probs[1].sum() == pytest.approx(1.0)


def test_unknown_method_suggests_the_closest():
    with pytest.raises(InputError, match="Did you mean: choice"):
        check_methods(["choise"])
    assert check_methods(["sum", "sum", "min"]) == ("sum", "min")


def test_an_empty_method_list_names_the_choices():
    with pytest.raises(
        InputError, match=r"^`methods` is empty; choose from sum, mean, min, choice\.$"
    ) as error:
        check_methods([])
    assert error.value.parameter == "methods"


def test_option_probabilities_subset_keeps_rows_aligned():
    table = probabilities([RECORD, RECORD], "sum")
    rows = np.array([False, True])
    subset = table.subset(rows)
    assert subset.probs.tolist() == table.probs[rows].tolist()
    assert subset.labels.tolist() == table.labels[rows].tolist()
    assert subset.option_mask.tolist() == table.option_mask[rows].tolist()


def test_record_problems_are_named_word_for_word():
    from llmcal.confidence.methods import option_scores

    letters_only = ItemRecord("t", "q9", 0, 2, None, None, (-0.1, -2.0))
    with pytest.raises(InputError) as error:
        option_scores(letters_only, "sum")
    assert str(error.value) == "t/q9: the record has no scores for method 'sum'."
