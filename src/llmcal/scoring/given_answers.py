"""Answers generated elsewhere, scored by the model: ``llmcal eval --answers FILE`` without generating.

:class:`GivenAnswers` wraps a backend. Asked to generate an item's answer, it returns the answer the file
gives, with each token's log-probability as the model scores it after the same prompt (one scoring pass,
no generation); asked for samples, the file's samples, scored the same way. Scoring requests (P(True))
pass through. So every method that reads answers, samples and scores works on answers made by another
system (an API, an earlier run, a human), and the records are those of an ordinary run.

Answer text is scored as written; one that does not begin with white space gets a space first, the
separator lm-evaluation-harness puts between a question and its answer. The answer counts as ended by a
stop string (its tokens are all answer tokens).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcal.errors import InputError
from llmcal.jsonl import empty_file_problem, json_text, read_jsonl
from llmcal.scoring.requests import (
    BackendOperation,
    ContinuationScore,
    Generation,
    GenerationRequest,
    ProgressCallback,
    ScoringBackend,
    ScoringRequest,
    unavailable_operations,
)
from llmcal.scoring.sampling import SamplingSettings

__all__ = ["GivenAnswer", "GivenAnswers", "read_given_answers"]

_EXAMPLE = '{"id": "q1", "answer": "Paris", "samples": ["Paris", "Lyon", "Paris"]}'


@dataclass(frozen=True)
class GivenAnswer:
    """An item's answer made elsewhere, and its samples if any.

    Attributes:
        text: The answer.
        samples: Sampled answers to the same prompt (empty if none were given).
    """

    text: str
    samples: tuple[str, ...] = ()


def read_given_answers(path: str | Path) -> dict[str, GivenAnswer]:
    """The answers of a JSON Lines file: one object per item, ``id``, ``answer`` and optional ``samples``.

    Raises:
        InputError: ``file:line`` and what is wrong: not JSON, a missing or empty ``id``, an ``answer``
            that is not text, ``samples`` that are not a list of texts, an id given twice; or no lines.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: no such file; --answers takes a JSON Lines file such as {_EXAMPLE}.")
    answers: dict[str, GivenAnswer] = {}
    for line, value in read_jsonl(source):
        where = f"{source}:{line}"
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected an object such as {_EXAMPLE}; found {type(value).__name__}.")
        item_id, text, samples = value.get("id"), value.get("answer"), value.get("samples", [])
        if not isinstance(item_id, str | int) or isinstance(item_id, bool) or not str(item_id).strip():
            raise InputError(f"{where}: field 'id' must be the item's id (text); found {item_id!r}.")
        if not isinstance(text, str):
            raise InputError(f"{where}: field 'answer' must be the answer's text; found {text!r}.")
        if not isinstance(samples, list) or not all(isinstance(sample, str) for sample in samples):
            raise InputError(f"{where}: field 'samples' must be a list of answer texts; found {samples!r}.")
        key = str(item_id)
        if key in answers:
            raise InputError(f"{where}: item {key!r} is answered twice; give one line per item.")
        answers[key] = GivenAnswer(text, tuple(samples))
    if not answers:
        raise InputError(f"{source}: {empty_file_problem(source)}; give one line per item, {_EXAMPLE}.")
    return answers


def _spaced(text: str) -> str:
    return text if text[:1].isspace() else " " + text


class GivenAnswers:
    """A :class:`~llmcal.scoring.requests.ScoringBackend` answering from ``answers``, scored by ``backend``.

    Args:
        backend: The model that scores the answers.
        answers: Item id -> its answer (and samples).
        source: Where the answers came from, for the run manifest (a file name).
    """

    def __init__(self, backend: ScoringBackend, answers: Mapping[str, GivenAnswer], source: str) -> None:
        self.backend = backend
        self.answers = dict(answers)
        self.source = source

    def _answer(self, key: str) -> GivenAnswer:
        found = self.answers.get(key)
        if found is None:
            raise InputError(f"{self.source}: no answer for item {key!r}; give one line per item.")
        return found

    def _scored(
        self, requests: Sequence[GenerationRequest], texts: Sequence[Sequence[str]]
    ) -> list[list[Generation]]:
        """Each request's texts as generations: their tokens, scored after the request's prompt."""
        scoring = [
            ScoringRequest(request.context, tuple(_spaced(text) for text in group), request.key)
            for request, group in zip(requests, texts, strict=True)
        ]
        scores = self.backend.score(scoring)
        encoder = getattr(self.backend, "encoder", None)
        encoded = encoder.encode(scoring) if encoder is not None else None
        results = []
        for index, (group, group_scores) in enumerate(zip(texts, scores, strict=True)):
            generations = []
            for number, (text, score) in enumerate(zip(group, group_scores, strict=True)):
                ids = encoded[index].continuations[number] if encoded is not None else range(score.n_tokens)
                generations.append(_generation(text, tuple(ids), score))
            results.append(generations)
        return results

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        """The given answer to each request's item (its ``key``), scored after its prompt."""
        texts = [[self._answer(request.key).text] for request in requests]
        generations = [group[0] for group in self._scored(requests, texts)]
        if on_progress is not None:
            on_progress(len(requests))
        return generations

    def sample(
        self,
        requests: Sequence[GenerationRequest],
        *,
        settings: SamplingSettings,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[list[Generation]]:
        """The given samples of each request's item, scored after its prompt.

        Raises:
            InputError: If an item has not ``settings.samples`` samples.
        """
        texts = []
        for request in requests:
            samples = self._answer(request.key).samples
            if len(samples) != settings.samples:
                raise InputError(
                    f"{self.source}: item {request.key!r} has {len(samples)} samples; every item needs "
                    f"{settings.samples} for the methods over samples."
                )
            texts.append(list(samples))
        generations = self._scored(requests, texts)
        if on_progress is not None:
            on_progress(len(requests))
        return generations

    def score(
        self, requests: Sequence[ScoringRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """The model's scores, as without the given answers."""
        return self.backend.score(requests, on_progress=on_progress)

    def unavailable_operations(self) -> Mapping[BackendOperation, str]:
        """What the model cannot score makes the given answers unscorable too."""
        reasons = dict(unavailable_operations(self.backend))
        if "score" in reasons:
            reasons["generate"] = reasons["sample"] = f"the answers are scored, and {reasons['score']}"
        return reasons

    def describe(self) -> dict[str, Any]:
        """The model's description, and where the answers came from."""
        return {**self.backend.describe(), "answers": self.source}

    def fingerprint(self) -> dict[str, Any]:
        """The model's identity and the answers' (a changed file is another run)."""
        canonical = json_text(
            {key: [answer.text, list(answer.samples)] for key, answer in sorted(self.answers.items())},
            ensure_ascii=False,
        )
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return {**self.backend.fingerprint(), "answers_sha256": digest}


def _generation(text: str, ids: tuple[int, ...], score: ContinuationScore) -> Generation:
    if len(ids) != score.n_tokens:
        raise InputError(f"answer {text!r}: {len(ids)} tokens but {score.n_tokens} log-probabilities.")
    return Generation(_spaced(text), ids, score.token_logprobs, len(ids), "stop")
