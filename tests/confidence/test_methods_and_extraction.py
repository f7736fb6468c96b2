from __future__ import annotations

import json

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
from llmcal.scoring import ContinuationScore, FakeBackend
from llmcal.tasks.schema import MCItem

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


def test_non_finite_scores_name_the_item():
    options = (ContinuationScore((float("nan"),), False), ContinuationScore((-1.0,), False))
    with pytest.raises(InputError, match=r"t/bad-1: the model gave non-finite log-probabilities \(\[nan\]\)"):
        ItemRecord("t", "bad-1", 0, 2, None, options, None)
    with pytest.raises(InputError, match="t/bad-2: the model gave non-finite"):
        ItemRecord("t", "bad-2", 0, 2, None, None, (0.0, float("inf")))
    fine = ItemRecord("t", "ok", 0, 2, None, options[1:] * 2, None)
    with pytest.raises(InputError, match="has no scores for method 'choice'"):
        probabilities([fine], "choice")


def test_a_model_producing_nan_stops_the_evaluation_at_that_item(tmp_path):
    from llmcal.evaluation import evaluate
    from llmcal.runs import EvalSettings
    from llmcal.scoring import FakeBackend
    from llmcal.tasks import EvalTask
    from llmcal.tasks.schema import MCItem

    class NanBackend(FakeBackend):
        def score(self, requests, *, on_progress=None):
            scores = super().score(requests, on_progress=on_progress)
            return [[ContinuationScore((float("nan"),), False) for _ in row] if "seven" in request.context
                    else row for request, row in zip(requests, scores, strict=True)]  # fmt: skip

    items = [MCItem(f"q{i}", f"Question {['one', 'seven'][i == 7]}?", ("a", "b"), 0) for i in range(10)]
    with pytest.raises(InputError, match="toy/q7: the model gave non-finite"):
        evaluate([EvalTask("toy", items)], NanBackend(), EvalSettings(ExtractionSettings(("sum",))), tmp_path)
    assert not (tmp_path / "results.json").exists()


def test_records_round_trip_through_json():
    assert ItemRecord.from_json(RECORD.to_json(), where="x:1") == RECORD
    with pytest.raises(InputError, match="x:3: not a valid llmcal record"):
        ItemRecord.from_json('{"task": "t"}', where="x:3")


def test_unknown_method_suggests_the_closest():
    with pytest.raises(InputError, match="Did you mean: choice"):
        check_methods(["choise"])
    assert check_methods(["sum", "sum", "min"]) == ("sum", "min")


ITEMS = [
    MCItem("a", "Capital of France?", ("Paris", "Lyon", "Nice"), 0),
    MCItem(
        "b", "The trophy does not fit in the suitcase because the _ is too big.", ("trophy", "suitcase"), 0
    ),
    MCItem("c", "Sky colour?", ("green", "blue"), 1, subject="science"),
]


def test_extraction_computes_every_method_on_the_same_items():
    backend = FakeBackend(favoured=["Paris", "blue"])
    settings = ExtractionSettings(methods=("sum", "mean", "min", "choice"))
    records = extract_records(ITEMS, backend, settings, task="mixed")
    assert [r.id for r in records] == ["a", "b", "c"]
    assert all(r.options is not None and len(r.options) == r.n_options for r in records)
    assert all(r.letters is not None and len(r.letters) == r.n_options for r in records)
    assert records[2].subject == "science"
    # The favoured answers win under the continuation methods.
    assert probabilities([records[0]], "sum")[0].argmax() == 0
    assert probabilities([records[2]], "sum")[0].argmax() == 1


def test_partial_style_scores_the_text_after_the_blank():
    backend = FakeBackend()
    seen = []

    class Recording(FakeBackend):
        def score(self, requests, *, on_progress=None):
            seen.extend(requests)
            return super().score(requests, on_progress=on_progress)

    extract_records([ITEMS[1]], Recording(), ExtractionSettings(methods=("sum",)), task="w", style="partial")
    assert [(r.context, r.continuations) for r in seen] == [
        ("The trophy does not fit in the suitcase because the trophy", (" is too big.",)),
        ("The trophy does not fit in the suitcase because the suitcase", (" is too big.",)),
    ]
    assert backend.calls == 0


def test_fewshot_prefix_is_deterministic_and_excludes_the_item():
    seen = []

    class Recording(FakeBackend):
        def score(self, requests, *, on_progress=None):
            seen.extend(requests)
            return super().score(requests, on_progress=on_progress)

    settings = ExtractionSettings(methods=("sum",), num_fewshot=1, seed=3)
    extract_records([ITEMS[0]], Recording(), settings, task="t", fewshot_pool=ITEMS)
    extract_records([ITEMS[0]], Recording(), settings, task="t", fewshot_pool=ITEMS)
    assert seen[0].context == seen[1].context
    assert seen[0].context.endswith("Question: Capital of France?\nAnswer:")
    assert seen[0].context.count("Question:") == 2  # one solved example, then the item


def test_records_round_trip_through_json_field_by_field():
    options = (ContinuationScore((-0.5, -1.25), True), ContinuationScore((-2.0,), False))
    full = ItemRecord("t", "q1", 1, 2, "geography", options, (-0.1, -2.3))
    assert ItemRecord.from_json(full.to_json(), where="x") == full
    assert json.loads(full.to_json())["subject"] == "geography"
    bare = ItemRecord("t", "q2", 0, 2, None, None, None)
    assert json.loads(bare.to_json())["options"] is None
    assert json.loads(bare.to_json())["letters"] is None
    assert ItemRecord.from_json(bare.to_json(), where="x") == bare
    with pytest.raises(
        InputError, match=r"^f\.jsonl:3: not a valid llmcal record \(KeyError: 'options'\)\.$"
    ):
        ItemRecord.from_json('{"id": "q"}', where="f.jsonl:3")


def test_an_empty_method_list_names_the_choices():
    with pytest.raises(InputError, match=r"^--methods is empty; choose from sum, mean, min, choice\.$"):
        check_methods([])


def test_option_probabilities_subset_keeps_rows_aligned():
    table = probabilities([RECORD, RECORD], "sum")
    rows = np.array([False, True])
    subset = table.subset(rows)
    assert subset.probs.tolist() == table.probs[rows].tolist()
    assert subset.labels.tolist() == table.labels[rows].tolist()
    assert subset.option_mask.tolist() == table.option_mask[rows].tolist()


def test_requests_carry_their_item_id_and_empty_records_are_named():
    seen = []

    class Recording(FakeBackend):
        def score(self, requests, *, on_progress=None):
            seen.extend(request.key for request in requests)
            return super().score(requests, on_progress=on_progress)

    items = [MCItem("x1", "Q?", ("a", "b"), 0), MCItem("x2", "R?", ("c", "d"), 1)]
    extract_records(items, Recording(), ExtractionSettings(("sum", "choice")), task="t")
    assert set(seen) == {"x1", "x2"}
    with pytest.raises(InputError) as error:
        probabilities([], "sum")
    assert str(error.value) == "No records to compute confidences from."
    from llmcal.metrics.validation import padded_rows

    assert padded_rows([[0.5, 0.5], [1.0]])[1].dtype == np.bool_


class _Contexts(FakeBackend):
    """A fake model that keeps every context it was asked about, with progress in batches of 3."""

    def __init__(self):
        super().__init__()
        self.contexts = []

    def score(self, requests, *, on_progress=None):
        self.contexts.extend(request.context for request in requests)
        results = super().score(requests)
        if on_progress is not None:
            for start in range(0, len(requests), 3):
                on_progress(len(requests[start : start + 3]))
        return results


def test_few_shot_prefixes_reach_both_passes_with_their_own_format():
    from llmcal.tasks.prompts import fewshot_examples, letter_prompt, option_pairs

    pool = [MCItem(f"p{i}", f"Pool question {i}?", ("yes", "no"), i % 2) for i in range(6)]
    item = pool[0]
    backend = _Contexts()
    settings = ExtractionSettings(("sum", "choice"), num_fewshot=2, seed=7)
    extract_records([item], backend, settings, task="t", style="completion", fewshot_pool=pool)
    cloze = fewshot_examples(item, pool, k=2, seed=7, format="cloze", style="completion")
    letters = fewshot_examples(item, pool, k=2, seed=7, format="letters")
    assert backend.contexts == [
        cloze + option_pairs(item, format="cloze", style="completion")[0][0],
        letters + letter_prompt(item)[0],
    ]


def test_progress_counts_items_once_per_pass_even_with_several_requests_per_item():
    # "partial" cloze style: one request per option, so requests outnumber items three to one.
    items = [MCItem(f"w{i}", "The _ sat down.", ("cat", "dog", "emu"), 0) for i in range(5)]
    reported = []
    extract_records(items, _Contexts(), ExtractionSettings(("sum", "choice")), task="t", style="partial",
                    on_progress=reported.append)  # fmt: skip
    assert sum(reported) == 2 * len(items)  # the continuation pass and the letters pass
    assert len(reported) > 2  # reported as batches finish, not once at the end


def test_record_problems_are_named_word_for_word():
    from llmcal.confidence.methods import option_scores

    letters_only = ItemRecord("t", "q9", 0, 2, None, None, (-0.1, -2.0))
    with pytest.raises(InputError) as error:
        option_scores(letters_only, "sum")
    assert str(error.value) == "t/q9: the record has no scores for method 'sum'."
