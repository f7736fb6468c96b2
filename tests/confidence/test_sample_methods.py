"""Methods over samples (issue 29, item 2): by hand, against lm-polygraph's estimators, and end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcal.confidence.answer_equivalence import AliasMatch, AliasTable, equivalence_classes
from llmcal.confidence.answer_similarity import jaccard, rouge_l, similarity_matrix
from llmcal.confidence.generation_extraction import GenerationSettings, extract_generation_records
from llmcal.confidence.generation_methods import GENERATION_METHODS
from llmcal.confidence.predictions import generation_confidence
from llmcal.confidence.records import GenerationRecord
from llmcal.confidence.sample_methods import (
    degree_uncertainty,
    eccentricity,
    eigenvalue_uncertainty,
    semantic_entropy,
)
from llmcal.errors import InputError
from llmcal.runs.records import RecordStore
from llmcal.scoring import FakeBackend
from llmcal.scoring.requests import Generation
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks.schema import OpenItem
from tests.lm_polygraph_modules import polygraph_modules

SAMPLE_METHODS = [
    name for name in GENERATION_METHODS.names() if GENERATION_METHODS.get(name).needs.name == "samples"
]


def _generation(text: str, logprobs: tuple[float, ...] = (-0.5,), token: int = 0) -> Generation:
    ids = tuple(token + i for i in range(len(logprobs)))
    return Generation(text, ids, logprobs, len(logprobs), "stop")


def _record(answer: str, samples: list[str], logprobs: list[float] | None = None) -> GenerationRecord:
    logprobs = logprobs or [-1.0] * len(samples)
    generations = tuple(
        _generation(text, (value,), token=sum(map(ord, text)))
        for text, value in zip(samples, logprobs, strict=True)
    )
    classes = equivalence_classes([answer, *samples])
    return GenerationRecord(
        "t", "q", ("Paris",), None, _generation(answer), samples=generations, sample_classes=classes
    )


def test_two_classes_of_two_samples_each_by_hand() -> None:
    record = _record(" Paris", [" Paris", " paris.", " Lyon", " Lyon"])
    assert generation_confidence(record, "self-consistency") == 0.5
    # Entropy ln 2 of at most ln 4: confidence 1/2; two sets of at most four: confidence (4 - 2) / 3.
    assert generation_confidence(record, "semantic-entropy") == pytest.approx(1 - math.log(2) / math.log(4))
    assert generation_confidence(record, "semantic-sets") == pytest.approx(2 / 3)
    assert GENERATION_METHODS.get("semantic-entropy").uncertainty(record) == pytest.approx(math.log(2))
    assert GENERATION_METHODS.get("semantic-sets").uncertainty(record) == 2.0


def test_likelihood_weighting_sums_each_distinct_answer_once() -> None:
    # " Paris" drawn three times counts once: classes weigh e^-1 (Paris) against e^-1 + e^-2 (Lyon, Nice).
    record = _record(" Paris", [" Paris", " Paris", " Paris", " Lyon"], [-1.0, -1.0, -1.0, -2.0])
    p_paris = math.exp(-1) / (math.exp(-1) + math.exp(-2))
    entropy = -(p_paris * math.log(p_paris) + (1 - p_paris) * math.log(1 - p_paris))
    assert GENERATION_METHODS.get("semantic-entropy-lik").uncertainty(record) == pytest.approx(entropy)
    frequency = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert GENERATION_METHODS.get("semantic-entropy").uncertainty(record) == pytest.approx(frequency)


def test_unanimous_samples_give_full_confidence_and_disjoint_ones_none() -> None:
    same = _record(" Paris", [" Paris"] * 5)
    different = _record(" Paris", [" Lyon", " Nice", " Lille", " Metz", " Brest"])
    for name in SAMPLE_METHODS:
        assert generation_confidence(same, name) == pytest.approx(1.0), name
        expected = 0.0 if name != "semantic-entropy-lik" else pytest.approx(0.0, abs=1e-12)
        assert generation_confidence(different, name) == expected, name


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(
        st.sampled_from([" Paris", " Lyon", " the Paris", " Nice city", " nice", ""]), min_size=2, max_size=8
    )
)
def test_every_method_gives_a_probability_on_any_samples(texts: list[str]) -> None:
    record = _record(" Paris", texts, [-0.5 * (i + 1) for i in range(len(texts))])
    for name in SAMPLE_METHODS:
        value = generation_confidence(record, name)
        assert value is not None
        assert 0.0 <= value <= 1.0, name


def test_spectral_uncertainties_equal_lm_polygraphs_on_the_same_similarity_matrix() -> None:
    rng = np.random.default_rng(0)
    with polygraph_modules(
        "estimators.eig_val_laplacian", "estimators.deg_mat", "estimators.eccentricity"
    ) as (
        eig,
        deg,
        ecc,
    ):
        eigv, degree, eccentric = eig.EigValLaplacian(), deg.DegMat(), ecc.Eccentricity()
        for size in (2, 5, 10):
            for _ in range(5):
                upper = np.triu(rng.uniform(0, 1, (size, size)) * (rng.uniform(size=(size, size)) < 0.6), 1)
                matrix = upper + upper.T + np.eye(size)
                stats = {"sample_texts": [[""] * size], "semantic_matrix_entail": matrix[None]}
                assert eigenvalue_uncertainty(matrix) == pytest.approx(eigv.U_EigVal_Laplacian(0, stats))
                assert degree_uncertainty(matrix) == pytest.approx(degree.U_DegMat(0, stats))
                assert eccentricity(matrix) == pytest.approx(eccentric.U_Eccentricity(0, stats)[0], abs=1e-9)


def test_frequency_semantic_entropy_equals_lm_polygraphs() -> None:
    with polygraph_modules("estimators.semantic_entropy") as (module,):
        estimator = module.SemanticEntropy(class_probability_estimation="frequency")
        samples = [" Paris", " paris", " Lyon", " Nice", " Lyon", " Paris"]
        classes = equivalence_classes(samples)
        groups = [[j for j, c in enumerate(classes) if c == label] for label in sorted(set(classes))]
        stats = {
            "sample_texts": [samples],
            "semantic_classes_entail": {"class_to_sample": [groups], "sample_to_class": [list(classes)]},
        }
        theirs = float(estimator(stats)[0])
    record = _record(" Paris", samples)
    assert GENERATION_METHODS.get("semantic-entropy").uncertainty(record) == pytest.approx(theirs)


def test_rouge_l_equals_google_rouge_score_except_on_two_empty_answers() -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rng = np.random.default_rng(1)
    words = ["the", "cat", "Paris", "is", "capital", "of", "France", "x-ray", "2024", "Ünïcode"]
    for _ in range(500):
        first = " ".join(rng.choice(words, rng.integers(0, 7)))
        second = " ".join(rng.choice(words, rng.integers(1, 7)))
        assert rouge_l(first, second) == pytest.approx(
            scorer.score(first, second)["rougeL"].fmeasure, abs=1e-12
        )
    assert rouge_l("", "") == 1.0  # rouge-score gives 0; two empty answers are the same answer
    assert jaccard("", "") == 1.0
    assert similarity_matrix(["x y", "y z", ""], jaccard).tolist() == [
        [1.0, 1 / 3, 0.0],
        [1 / 3, 1.0, 0.0],
        [0.0, 0.0, 1.0],
    ]


def test_aliases_of_one_item_are_one_class_whoever_is_right() -> None:
    table = AliasTable.of([("United States", "USA", "U.S."), ("United Kingdom", "UK"), ("France",)])
    assert equivalence_classes(
        ["USA", "the United States", "UK", "United Kingdom", "Mexico", "mexico"], table
    ) == (
        0,
        0,
        1,
        1,
        2,
        2,
    )


def test_alias_match_groups_each_questions_answers_with_the_tasks_aliases() -> None:
    table = AliasTable.of([("United States", "USA")])
    assert AliasMatch(table).classes(["q1", "q2"], [["USA", "United States"], ["usa", "Mexico"]]) == [
        (0, 0),
        (0, 1),
    ]


def test_an_empty_answer_shares_no_words_with_another() -> None:
    assert rouge_l("", "the cat") == rouge_l("the cat", "") == 0.0


def test_classes_of_no_probability_add_nothing_to_the_entropy() -> None:
    assert semantic_entropy(np.array([0.5, 0.5, 0.0])) == pytest.approx(math.log(2))


def test_records_with_samples_round_trip_through_the_records_file(tmp_path) -> None:
    items = [OpenItem(f"q{i}", f"Capital of country {i}?", ("Paris",)) for i in range(6)]
    backend = FakeBackend(answers=["Paris", "Lyon", "Nice"])
    settings = GenerationSettings(("seq-prob", "self-consistency"), sampling=SamplingSettings(samples=4))
    records = extract_generation_records(items, backend, settings, task="t")
    assert all(len(record.samples or ()) == 4 and len(record.sample_classes or ()) == 5 for record in records)
    store = RecordStore(tmp_path / "records.jsonl")
    store.append(records)
    loaded = store.load(repair=False)
    assert [loaded[record.key] for record in records] == records
    line = json.loads((tmp_path / "records.jsonl").read_text().splitlines()[0])
    assert len(line["samples"]) == 4
    assert line["sample_classes"][0] == 0
    without = extract_generation_records(items, backend, GenerationSettings(("seq-prob",)), task="t")
    store_without = RecordStore(tmp_path / "plain.jsonl")
    store_without.append(without)
    assert "samples" not in (tmp_path / "plain.jsonl").read_text()  # earlier runs' records are unchanged


def test_a_record_whose_classes_do_not_number_its_samples_is_refused() -> None:
    with pytest.raises(InputError, match="sample classes"):
        GenerationRecord(
            "t", "q", ("a",), None, _generation(" a"), samples=(_generation(" a"),), sample_classes=(0,)
        )


def test_default_settings_sample_nothing_and_a_method_over_samples_brings_the_defaults() -> None:
    assert GenerationSettings().sampling is None
    assert not set(GenerationSettings().methods) & set(SAMPLE_METHODS)
    assert GenerationSettings(("semantic-entropy",)).sampling == SamplingSettings()
