"""Methods a backend cannot run are named before a run starts, with the ones it can."""

from __future__ import annotations

import pytest

from llmcal.confidence.backend_operations import check_backend_operations, operations_needed
from llmcal.confidence.extraction import ExtractionSettings
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.errors import InputError
from llmcal.scoring.fake import FakeBackend


class _Lacking(FakeBackend):
    def __init__(self, **unavailable: str) -> None:
        super().__init__()
        self.lacks = unavailable

    def unavailable_operations(self) -> dict[str, str]:
        return self.lacks


def test_each_method_asks_for_what_its_pass_runs() -> None:
    assert operations_needed(ExtractionSettings(methods=("sum", "choice"))) == {
        "sum": {"score"},
        "choice": {"score"},
    }
    assert operations_needed(GenerationSettings()) == {
        "seq-prob": {"generate"},
        "mean-prob": {"generate"},
        "min-prob": {"generate"},
        "p-true": {"generate", "score"},
        "verbal": {"generate"},
    }


def test_a_backend_that_can_do_everything_runs_every_method() -> None:
    check_backend_operations(GenerationSettings(), FakeBackend())
    check_backend_operations(GenerationSettings(), _Lacking())


def test_without_scoring_p_true_is_refused_and_the_others_offered() -> None:
    with pytest.raises(
        InputError, match=r"cannot run the `methods` p-true \(cannot score: no prompt log-probs\)"
    ) as e:
        check_backend_operations(GenerationSettings(), _Lacking(score="no prompt log-probs"))
    assert "Run only seq-prob,mean-prob,min-prob,verbal" in str(e.value)
    assert e.value.parameter == "methods"
    check_backend_operations(GenerationSettings(methods=("seq-prob", "verbal")), _Lacking(score="none"))


def test_without_generating_nothing_open_ended_runs_and_the_reason_is_given_once() -> None:
    lacking = _Lacking(score="no prompt log-probs", generate="chat only")
    with pytest.raises(InputError, match="No method of these tasks can run on it") as e:
        check_backend_operations(GenerationSettings(), lacking)
    assert str(e.value).count("cannot generate: chat only") == 1
    with pytest.raises(InputError) as e:
        check_backend_operations(ExtractionSettings(methods=("sum", "choice")), lacking)
    assert str(e.value) == (
        "The backend cannot run the `methods` sum, choice (cannot score: no prompt log-probs). No method "
        "of these tasks can run on it; use a server that gives log-probabilities (vLLM), or the in-process "
        "backend."
    )
    with pytest.raises(InputError) as e:
        check_backend_operations(GenerationSettings(methods=("p-true", "verbal")), lacking)
    assert "(cannot generate: chat only; cannot score: no prompt log-probs)" in str(e.value)
