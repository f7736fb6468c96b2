"""Generation methods as registered objects: each declares the pass it reads; each pass runs once."""

from __future__ import annotations

import hashlib
import math

import pytest

from llmcal.confidence.generation_extraction import (
    GenerationSettings,
    extract_generation_records,
    generation_passes,
    sampling_method_names,
)
from llmcal.confidence.generation_methods import GENERATION_METHODS, generation_method
from llmcal.confidence.generation_passes import ANSWER, P_TRUE, SAMPLES, VERBAL, PassOutputs
from llmcal.confidence.predictions import generation_confidence
from llmcal.errors import InputError
from llmcal.runs.records import record_line
from llmcal.scoring import FakeBackend
from llmcal.tasks.schema import OpenItem

ITEMS = [OpenItem(f"o{i}", f"What is the capital of country {i}?", (f"City {i}",)) for i in range(5)]


class _CountingBackend(FakeBackend):
    """A fake model that counts its scoring and generation calls (each is one pass over the items)."""

    def __init__(self):
        super().__init__(answers=["Paris", "Rome"])
        self.scored = 0
        self.generated = 0

    def score(self, requests, *, on_progress=None):
        self.scored += 1
        return super().score(requests, on_progress=on_progress)

    def generate(self, requests, *, max_new_tokens, on_progress=None):
        self.generated += 1
        return super().generate(requests, max_new_tokens=max_new_tokens, on_progress=on_progress)


def test_every_method_declares_its_pass():
    assert {name: GENERATION_METHODS.get(name).needs for name in GENERATION_METHODS} == {
        "seq-prob": ANSWER,
        "mean-prob": ANSWER,
        "min-prob": ANSWER,
        "p-true": P_TRUE,
        "verbal": VERBAL,
        **{name: SAMPLES for name in sampling_method_names()},
    }
    assert set(sampling_method_names()) == {
        "self-consistency",
        "semantic-entropy",
        "semantic-entropy-lik",
        "semantic-sets",
        "lexical-similarity",
        "eigv",
        "degree",
        "eccentricity",
    }
    assert all(GENERATION_METHODS.get(name).name == name for name in GENERATION_METHODS)


@pytest.mark.parametrize(
    ("methods", "scored", "generated"),
    [(("seq-prob",), 0, 1), (("seq-prob", "p-true"), 1, 1), (("verbal",), 0, 2), (None, 1, 2)],
)
def test_each_pass_the_methods_read_runs_once(methods, scored, generated):
    backend = _CountingBackend()
    settings = GenerationSettings() if methods is None else GenerationSettings(methods)
    records = extract_generation_records(ITEMS, backend, settings, task="t")
    assert (backend.scored, backend.generated) == (scored, generated)
    assert all((record.p_true is not None) == (P_TRUE in settings.passes) for record in records)
    assert all((record.verbal is not None) == (VERBAL in settings.passes) for record in records)


def test_passes_run_in_registration_order_whatever_order_the_methods_come_in():
    assert generation_passes(["verbal", "p-true"]) == (ANSWER, P_TRUE, VERBAL)
    assert generation_passes(["min-prob", "seq-prob"]) == (ANSWER,)
    with pytest.raises(InputError, match=r"Unknown confidence method for generated answers 'p_true'"):
        generation_passes(["p_true"])


def test_a_new_method_needs_one_registration_and_joins_its_pass(scratch_registry):
    @generation_method("p-false", P_TRUE)
    def _p_false(record):
        true, false = record.p_true
        return 1.0 / (1.0 + math.exp(true - false))

    backend = _CountingBackend()
    records = extract_generation_records(ITEMS, backend, GenerationSettings(("p-true", "p-false")), task="t")
    assert (backend.scored, backend.generated) == (1, 1)  # p-true's scoring pass, shared
    for record in records:
        total = generation_confidence(record, "p-true") + generation_confidence(record, "p-false")
        assert total == pytest.approx(1.0)


def test_a_lazily_registered_method_is_listed_before_it_is_imported(scratch_registry):
    GENERATION_METHODS.add_lazy("seq-prob-again", "llmcal.confidence.generation_methods:_SEQ_PROB_AGAIN")
    assert "seq-prob-again" in GENERATION_METHODS.names()
    assert not GENERATION_METHODS.is_loaded("seq-prob-again")
    with pytest.raises(ImportError, match="_SEQ_PROB_AGAIN"):  # looked up: imported (and here, missing)
        GENERATION_METHODS.get("seq-prob-again")


def test_the_default_settings_compute_every_registered_method_but_those_over_samples(scratch_registry):
    single_pass = [name for name in GENERATION_METHODS.names() if name not in sampling_method_names()]
    assert GenerationSettings().methods == tuple(single_pass)
    generation_method("constant", ANSWER)(lambda record: 0.5)
    assert GenerationSettings().methods[-1] == "constant"


def test_a_record_without_a_pass_s_output_is_refused_by_the_methods_reading_it():
    settings = GenerationSettings(("seq-prob",))
    record = extract_generation_records(ITEMS[:1], FakeBackend(), settings, task="t")[0]
    assert ANSWER.ran_on(record)
    assert not P_TRUE.ran_on(record)
    assert not VERBAL.ran_on(record)
    with pytest.raises(InputError, match=r"t/o0: the record has no scores for method 'p-true'"):
        generation_confidence(record, "p-true")


def test_two_passes_cannot_fill_the_same_record_field():
    outputs = PassOutputs(verbal=" 0.5")
    assert outputs.merged_with(PassOutputs(p_true=(-1.0, -2.0))) == PassOutputs((-1.0, -2.0), " 0.5")
    with pytest.raises(InputError, match="Two generation passes produced the same record field"):
        outputs.merged_with(PassOutputs(verbal=" 0.9"))


# sha256 of records.jsonl text written by the code before passes became objects (Literal pass names).
GOLDEN_RECORDS = {
    ("seq-prob", "p-true", "verbal"): "84de7062d0725d9ce844ca2c73e050de756b0314d83997f7c71b83103a18bf46",
    ("verbal",): "1d7621f40703cbc40ea84880452a2a46de08504cd68395eac97635813271fa6d",
    ("min-prob",): "d58edfbdc1658574d37decd7afe6c138c177b040ff72e72f38fd29212328b591",
}


@pytest.mark.parametrize("methods", list(GOLDEN_RECORDS), ids=str)
def test_record_lines_are_byte_identical_to_before(methods):
    items = [OpenItem(f"g{i}", f"Golden question {i}?", (f"answer {i}", "Paris")) for i in range(6)]
    settings = GenerationSettings(methods, num_fewshot=2, seed=3, max_new_tokens=5)
    backend = FakeBackend(answers=["Paris", "answer 1", "Rome"], unsure_every=3)
    records = extract_generation_records(items, backend, settings, task="golden", fewshot_pool=items)
    text = "".join(record_line(record) + "\n" for record in records)
    assert hashlib.sha256(text.encode()).hexdigest() == GOLDEN_RECORDS[methods]
