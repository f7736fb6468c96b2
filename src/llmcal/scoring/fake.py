"""A deterministic backend for tests: log-probabilities from a hash of the text, no model involved."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from llmcal.scoring.requests import ContinuationScore, ProgressCallback, ScoringRequest

__all__ = ["FakeBackend"]


def _unit(text: str) -> float:
    """A stable pseudo-random number in (0, 1) from ``text`` (sha256, independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)


class FakeBackend:
    """Scores continuations word by word with hash-derived log-probabilities in (-6, 0).

    The same (context, continuation) always gets the same scores, across runs and processes. A continuation
    that appears in ``favoured`` gets a bonus, so tests can make a "model" that prefers known answers.

    Args:
        favoured: Continuations (stripped) the fake model likes.
        bonus: Log-probability added to every token of a favoured continuation.
    """

    def __init__(self, favoured: Sequence[str] = (), bonus: float = 2.0) -> None:
        self.favoured = frozenset(text.strip() for text in favoured)
        self.bonus = bonus
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

    def describe(self) -> dict[str, Any]:
        """Identifies the fake backend in run manifests."""
        return {"backend": "fake", "favoured": sorted(self.favoured), "bonus": self.bonus}
