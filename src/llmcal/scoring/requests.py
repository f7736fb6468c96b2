"""What a scoring backend is asked and what it answers: the contract between confidence methods and models.

A backend never sees tasks or items, only text: a context and the continuations to score after it, or a
context to continue until a stop string, greedily or by sampling several answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from llmcal.errors import InputError
from llmcal.scoring.sampling import SamplingSettings

__all__ = [
    "BackendOperation",
    "ContinuationScore",
    "Generation",
    "GenerationRequest",
    "ProgressCallback",
    "ScoringBackend",
    "ScoringRequest",
    "StopReason",
    "check_max_new_tokens",
    "unavailable_operations",
]

BackendOperation = Literal["score", "generate", "sample"]
"""What a backend is asked to do: score continuations, generate greedily, or sample several answers."""

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


@dataclass(frozen=True)
class GenerationRequest:
    """A context to continue greedily.

    Attributes:
        context: The prompt.
        stop: The generation ends at the first of these strings (which is not part of the answer), or
            at the model's end-of-text token, or after the most new tokens allowed.
        key: Who asked (e.g. an item id), named in error messages.
    """

    context: str
    stop: tuple[str, ...] = ("\n",)
    key: str = ""


StopReason = Literal["stop", "eos", "length"]
"""Why a generation ended: a stop string, the end-of-text token, or the new-token limit."""


@dataclass(frozen=True)
class Generation:
    """A greedy continuation and the log-probability of each of its tokens.

    Attributes:
        text: The answer: the decoded continuation up to (not including) the first stop string.
        token_ids: Every generated token, including the one that completed a stop string or the
            end-of-text token.
        token_logprobs: ``log p(token_j | context, tokens_<j)`` of each generated token.
        n_answer_tokens: How many leading tokens spell :attr:`text` (the rest only end it).
        stop: Why the generation ended.
    """

    text: str
    token_ids: tuple[int, ...]
    token_logprobs: tuple[float, ...]
    n_answer_tokens: int
    stop: StopReason

    def __post_init__(self) -> None:
        if len(self.token_ids) != len(self.token_logprobs):
            raise ValueError("a generation needs one log-probability per token")
        if not 0 <= self.n_answer_tokens <= len(self.token_ids):
            raise ValueError(f"n_answer_tokens {self.n_answer_tokens} is outside 0..{len(self.token_ids)}")

    @property
    def answer_logprobs(self) -> tuple[float, ...]:
        """The log-probabilities of the answer's tokens; of the first token if the answer is empty.

        An empty answer (the model stopped at once) is still a choice the model made with some
        probability, that of its first token, so every generation has a confidence.
        """
        return self.token_logprobs[: max(self.n_answer_tokens, 1)]


class ScoringBackend(Protocol):
    """Turns (context, continuations) into token log-probabilities, and contexts into greedy answers."""

    def score(
        self, requests: Sequence[ScoringRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Scores every continuation of every request; the result mirrors ``requests``."""
        ...

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        """Greedy continuation of every request's context; the result mirrors ``requests``."""
        ...

    def sample(
        self,
        requests: Sequence[GenerationRequest],
        *,
        settings: SamplingSettings,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[list[Generation]]:
        """``settings.samples`` sampled continuations of every request's context, in sample order.

        Each sample is drawn from its own seeded stream (:func:`~llmcal.scoring.sampling.sample_seed`), so
        it does not depend on the batch; its tokens' log-probabilities are the model's own (temperature 1).
        """
        ...

    def describe(self) -> dict[str, Any]:
        """What produced the scores (model, revision, dtype, device, ...), for the run manifest."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """The model's identity by content, whatever path it came from (empty if ``describe`` says all).

        A resumed run must match it; see :mod:`llmcal.scoring.fingerprint`.
        """
        ...


def unavailable_operations(backend: ScoringBackend) -> Mapping[BackendOperation, str]:
    """What ``backend`` cannot do, each with the reason (a server without prompt log-probabilities, say).

    A backend that can do everything (in-process models) need not say so; one that cannot defines
    ``unavailable_operations()``, so a run is refused before it starts rather than failing midway.
    """
    method = getattr(backend, "unavailable_operations", None)
    return {} if method is None else dict(method())


def check_max_new_tokens(value: object) -> int:
    """``value`` as a generation's new-token limit.

    Raises:
        InputError: If it is not a positive integer.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(
            f"`max_new_tokens` must be a positive integer; got {value!r}.", parameter="max_new_tokens"
        )
    return value
