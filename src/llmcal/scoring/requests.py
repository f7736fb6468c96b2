"""What a scoring backend is asked and what it answers: the contract between confidence methods and models.

A backend never sees tasks or items, only text: a context and the continuations to score after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ContinuationScore", "ProgressCallback", "ScoringBackend", "ScoringRequest"]

ProgressCallback = Callable[[int], None]
"""Called with the number of requests just finished."""


@dataclass(frozen=True)
class ScoringRequest:
    """One context and the continuations to score after it (usually the options of one item).

    Attributes:
        context: Text the continuations are conditioned on; encoded once for all of them.
        continuations: Texts whose log-probabilities are wanted.
        key: Who asked (e.g. an item id), named in error messages.
    """

    context: str
    continuations: tuple[str, ...]
    key: str = ""


@dataclass(frozen=True)
class ContinuationScore:
    """Per-token log-probabilities of one continuation given its context.

    Attributes:
        token_logprobs: ``log p(token_j | context, tokens_<j)`` for each continuation token.
        is_greedy: Whether every token is the model's argmax (lm-evaluation-harness's ``is_greedy``).
    """

    token_logprobs: tuple[float, ...]
    is_greedy: bool

    @property
    def total(self) -> float:
        """Sum of the token log-probabilities: the continuation's log-likelihood."""
        return float(sum(self.token_logprobs))

    @property
    def n_tokens(self) -> int:
        """Number of continuation tokens."""
        return len(self.token_logprobs)

    @property
    def minimum(self) -> float:
        """The least likely token's log-probability."""
        return min(self.token_logprobs)


class ScoringBackend(Protocol):
    """Turns (context, continuations) into token log-probabilities."""

    def score(
        self, requests: Sequence[ScoringRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Scores every continuation of every request; the result mirrors ``requests``."""
        ...

    def describe(self) -> dict[str, Any]:
        """What produced the scores (model, revision, dtype, device, ...), for the run manifest."""
        ...
