"""A deterministic backend for tests: log-probabilities from a hash of the text, no model involved."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from llmcal.scoring.requests import (
    ContinuationScore,
    Generation,
    GenerationRequest,
    ProgressCallback,
    ScoringRequest,
)
from llmcal.scoring.sampling import SamplingSettings

__all__ = ["FakeBackend"]


def _unit(text: str) -> float:
    """A stable pseudo-random number in (0, 1) from ``text`` (sha256, independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)


class FakeBackend:
    """Scores continuations word by word with hash-derived log-probabilities in (-6, 0).

    The same (context, continuation) always gets the same scores, across runs and processes. A continuation
    that appears in ``favoured`` gets a bonus, so tests can make a "model" that prefers known answers.

    It also generates (and samples, :meth:`sample`): a prompt ending in ``Probability:`` (a
    verbalised-confidence prompt) is answered with a number from 0.0 to 1.0, or with ``not sure`` for about
    one prompt in ``unsure_every``; any other prompt with one of ``answers`` (the first whose hash says so)
    or a word of its own, each token with a hash-derived log-probability.

    Args:
        favoured: Continuations (stripped) the fake model likes.
        bonus: Log-probability added to every token of a favoured continuation.
        answers: Words the fake model answers open questions with (it picks one by hash).
        unsure_every: About one verbalised-confidence prompt in this many gets no number.
    """

    def __init__(
        self,
        favoured: Sequence[str] = (),
        bonus: float = 2.0,
        answers: Sequence[str] = (),
        unsure_every: int = 5,
    ) -> None:
        self.favoured = frozenset(text.strip() for text in favoured)
        self.bonus = bonus
        self.answers = tuple(answers)
        self.unsure_every = unsure_every
        self.calls = 0

    def _token_logprobs(self, context: str, continuation: str) -> tuple[float, ...]:
        words = continuation.split() or [continuation]
        boost = self.bonus if continuation.strip() in self.favoured else 0.0
        return tuple(
            min(-1e-3, math.log(_unit(f"{context}\x00{index}\x00{word}")) * 2.0 + boost)
            for index, word in enumerate(words)
        )

    def score(
        self, requests: Sequence[ScoringRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Scores every continuation of every request."""
        self.calls += 1
        results = [
            [ContinuationScore(self._token_logprobs(r.context, c), is_greedy=False) for c in r.continuations]
            for r in requests
        ]
        if on_progress is not None:
            on_progress(len(requests))
        return results

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        """A deterministic answer per request (see the class docstring), cut to ``max_new_tokens`` words."""
        self.calls += 1
        results = [self._generation(request.context, max_new_tokens) for request in requests]
        if on_progress is not None:
            on_progress(len(requests))
        return results

    def sample(
        self,
        requests: Sequence[GenerationRequest],
        *,
        settings: SamplingSettings,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[list[Generation]]:
        """Samples: the greedy answer, or with a prompt-dependent chance another answer drawn by hash.

        How often a sample departs from the greedy answer is set by the prompt's hash, scaled by the
        temperature (0: never), so items differ in how consistent their samples are, as a model's do.
        """
        self.calls += 1
        results = []
        for request in requests:
            spread = _unit(f"{request.context}\x00spread") * min(settings.temperature, 2.0) / 2.0
            samples = []
            for number in range(settings.samples):
                salt = f"\x00sample\x00{settings.seed}\x00{number}"
                departs = _unit(request.context + salt) < spread
                samples.append(self._generation(request.context, max_new_tokens, salt if departs else ""))
            results.append(samples)
        if on_progress is not None:
            on_progress(len(requests))
        return results

    def _generation(self, context: str, max_new_tokens: int, salt: str = "") -> Generation:
        draw = _unit(f"{context}\x00answer{salt}")
        if context.endswith("Probability:"):
            text = " not sure" if draw < 1 / self.unsure_every else f" {round(_unit(context), 1)}"
        elif self.answers:
            text = " " + self.answers[int(draw * len(self.answers))]
        else:
            text = f" word{int(draw * 100)}"
        words = text.split()[:max_new_tokens]
        text = " " + " ".join(words)
        logprobs = (*self._token_logprobs(context, text), -0.05)  # the answer's words, then the newline
        return Generation(text, tuple(range(len(logprobs))), logprobs, len(words), "stop")

    def describe(self) -> dict[str, Any]:
        """Identifies the fake backend in run manifests."""
        description: dict[str, Any] = {
            "backend": "fake",
            "favoured": sorted(self.favoured),
            "bonus": self.bonus,
        }
        if self.answers:  # absent otherwise, so multiple-choice manifests stay as they were
            description["answers"] = list(self.answers)
        return description

    def fingerprint(self) -> dict[str, Any]:
        """Nothing beyond :meth:`describe`: the fake model is its description."""
        return {}
