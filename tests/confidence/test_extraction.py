"""Extraction: every method's scores from the same items, prompt styles, few-shot prefixes, progress."""

from __future__ import annotations

import numpy as np
import pytest

from llmcal import InputError
from llmcal.confidence import (
    ExtractionSettings,
    extract_records,
    probabilities,
)
from llmcal.scoring import ContinuationScore, FakeBackend
from llmcal.tasks.schema import MCItem


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
