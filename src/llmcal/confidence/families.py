"""Request families: the scoring requests confidence methods need, each family scored once per run.

A confidence method declares the family whose scores it reads (:mod:`llmcal.confidence.methods`). Methods
reading the same scores share a family, so the backend is asked for them once however many of those
methods run: the continuation methods (``sum``, ``mean``, ``min``) all read every option's token
log-probabilities; ``choice`` reads the letters' log-probabilities from a second prompt.

Each family fills its own field of :class:`~llmcal.confidence.records.ItemRecord`; the record's on-disk
format is fixed, so a new family that needs new data also needs a new record field.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from llmcal.errors import InputError
from llmcal.scoring.requests import ContinuationScore, ScoringBackend, ScoringRequest
from llmcal.tasks.prompts import PromptFormat, fewshot_examples, letter_prompt, option_pairs
from llmcal.tasks.schema import MCItem
from llmcal.tasks.spec import ClozeStyle


class PromptSettings(Protocol):
    """What a family reads of the extraction settings (:class:`~llmcal.confidence.ExtractionSettings`).

    A protocol, so this module needs nothing from the extraction module, which builds on it.
    """

    @property
    def format(self) -> PromptFormat: ...

    @property
    def num_fewshot(self) -> int: ...

    @property
    def seed(self) -> int: ...


__all__ = ["CONTINUATIONS", "LETTERS", "FamilyScores", "RequestFamily"]


@dataclass(frozen=True)
class Prompting:
    """How a task's items are prompted: the extraction settings, the task's cloze style, its few-shot pool."""

    settings: PromptSettings
    style: ClozeStyle = "qa"
    fewshot_pool: Sequence[MCItem] = ()


# Called with numbers of items finished (progress bars); None when nobody listens.
Progress = Callable[[int], None] | None


@dataclass(frozen=True)
class FamilyScores:
    """The scores of one item that request families produced, in the fields the item record stores.

    Attributes:
        options: Continuation scores per option (``None`` if the continuation family did not run).
        letters: ``log p(letter_k)`` per option (``None`` if the letters family did not run).
    """

    options: tuple[ContinuationScore, ...] | None = None
    letters: tuple[float, ...] | None = None

    def merged_with(self, other: FamilyScores) -> FamilyScores:
        """These scores plus those ``other`` holds.

        Raises:
            InputError: If both hold the same field: two families would be writing one record field.
        """
        if (self.options is not None and other.options is not None) or (
            self.letters is not None and other.letters is not None
        ):
            raise InputError(
                "Two request families produced the same record field; each family must fill its own "
                "field of ItemRecord (see llmcal.confidence.families)."
            )
        return FamilyScores(
            options=self.options if other.options is None else other.options,
            letters=self.letters if other.letters is None else other.letters,
        )


class RequestFamily(ABC):
    """A set of scoring requests per item, and how their results become the item's record scores.

    Families are compared by identity: every method holding the same family object shares its pass.
    """

    name: str
    """Short name, for messages and docs."""

    def __repr__(self) -> str:
        return f"<request family {self.name}>"

    @abstractmethod
    def score(
        self, items: Sequence[MCItem], backend: ScoringBackend, prompting: Prompting, on_progress: Progress
    ) -> list[FamilyScores]:
        """Scores ``items`` in one pass and returns one :class:`FamilyScores` per item, in order.

        Args:
            items: Items to score.
            backend: The model.
            prompting: How the task's items are prompted.
            on_progress: Called with numbers of items finished, adding up to ``len(items)``.
        """


class _ContinuationFamily(RequestFamily):
    """Every option scored as a continuation of the item's prompt (``settings.format``, cloze ``style``)."""

    name = "continuation"

    def score(
        self, items: Sequence[MCItem], backend: ScoringBackend, prompting: Prompting, on_progress: Progress
    ) -> list[FamilyScores]:
        settings, style, fewshot_pool = prompting.settings, prompting.style, prompting.fewshot_pool
        options: list[list[ContinuationScore | None]] = [[None] * len(item.choices) for item in items]
        requests: list[ScoringRequest] = []
        owners: list[tuple[int, list[int]]] = []
        for position, item in enumerate(items):
            prefix = fewshot_examples(
                item,
                fewshot_pool,
                k=settings.num_fewshot,
                seed=settings.seed,
                format=settings.format,
                style=style,
            )
            for request, indices in _continuation_requests(item, prefix, settings, style):
                requests.append(request)
                owners.append((position, indices))
        scored = backend.score(requests, on_progress=_per_item(on_progress, len(requests), len(items)))
        for (position, indices), scores in zip(owners, scored, strict=True):
            for index, score in zip(indices, scores, strict=True):
                options[position][index] = score
        return [
            FamilyScores(options=tuple(option for option in row if option is not None)) for row in options
        ]


def _continuation_requests(
    item: MCItem, prefix: str, settings: PromptSettings, style: ClozeStyle
) -> list[tuple[ScoringRequest, list[int]]]:
    """Requests for one item's options, grouping options that share a context, with their option indices."""
    groups: dict[str, list[int]] = {}
    pairs = option_pairs(item, format=settings.format, style=style)
    for index, (context, _) in enumerate(pairs):
        groups.setdefault(context, []).append(index)
    return [
        (ScoringRequest(prefix + context, tuple(pairs[i][1] for i in indices), key=item.id), indices)
        for context, indices in groups.items()
    ]


class _LetterFamily(RequestFamily):
    """The option letters scored at the letters prompt's answer position, whatever ``settings.format``."""

    name = "letters"

    def score(
        self, items: Sequence[MCItem], backend: ScoringBackend, prompting: Prompting, on_progress: Progress
    ) -> list[FamilyScores]:
        settings, fewshot_pool = prompting.settings, prompting.fewshot_pool
        requests = []
        for item in items:
            prefix = fewshot_examples(
                item, fewshot_pool, k=settings.num_fewshot, seed=settings.seed, format="letters"
            )
            context, continuations = letter_prompt(item)
            requests.append(ScoringRequest(prefix + context, tuple(continuations), key=item.id))
        # The letter's whole continuation is scored: with most tokenizers " A" is one token and this costs
        # one context pass; with others (e.g. a space token first) the first token alone would tie.
        scored = backend.score(requests, on_progress=_per_item(on_progress, len(items), len(items)))
        return [FamilyScores(letters=tuple(score.total for score in row)) for row in scored]


CONTINUATIONS: RequestFamily = _ContinuationFamily()
"""Option continuations after the item's prompt: read by ``sum``, ``mean`` and ``min``."""
LETTERS: RequestFamily = _LetterFamily()
"""Option letters after the letters prompt: read by ``choice``."""


def _per_item(
    callback: Callable[[int], None] | None, n_requests: int, n_items: int
) -> Callable[[int], None] | None:
    """Converts request-level progress into item-level progress (requests per item can exceed one)."""
    if callback is None:
        return None
    passes = 0.0

    def advance(done: int) -> None:
        nonlocal passes
        passes += done * n_items / max(n_requests, 1)
        whole = int(passes)
        if whole:
            passes -= whole
            callback(whole)

    return advance
