"""Score items with a backend and keep every option's raw scores as :class:`ItemRecord` s.

The continuation methods (``sum``, ``mean``, ``min``) share one scoring pass over option continuations;
``choice`` needs one context pass over the letters prompt. All requested methods are computed on the same
items in one run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmcal.confidence.methods import CONTINUATION_METHODS, METHODS
from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.scoring.requests import ContinuationScore, ScoringBackend, ScoringRequest
from llmcal.tasks.prompts import PromptFormat, fewshot_examples, letter_prompt, option_pairs
from llmcal.tasks.schema import MCItem
from llmcal.tasks.spec import ClozeStyle

__all__ = ["ExtractionSettings", "check_methods", "extract_records"]


@dataclass(frozen=True)
class ExtractionSettings:
    """How items are prompted and scored.

    Attributes:
        methods: Confidence methods to compute (names in :data:`~llmcal.confidence.methods.METHODS`).
        format: Prompt format of the continuation methods (``cloze`` or ``letters``).
        num_fewshot: Solved examples before each item.
        seed: Seed of the few-shot draw.
    """

    methods: tuple[str, ...]
    format: PromptFormat = "cloze"
    num_fewshot: int = 0
    seed: int = 0


def check_methods(names: Sequence[str]) -> tuple[str, ...]:
    """Validates method names (unknown names suggest the closest one) and drops duplicates."""
    if not names:
        raise InputError("--methods is empty; choose from " + ", ".join(METHODS.names()) + ".")
    for name in names:
        METHODS.get(name)
    return tuple(dict.fromkeys(names))


def _continuation_requests(
    item: MCItem, prefix: str, settings: ExtractionSettings, style: ClozeStyle
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


def extract_records(
    items: Sequence[MCItem],
    backend: ScoringBackend,
    settings: ExtractionSettings,
    *,
    task: str,
    style: ClozeStyle = "qa",
    fewshot_pool: Sequence[MCItem] = (),
    on_progress: Callable[[int], None] | None = None,
) -> list[ItemRecord]:
    """Scores ``items`` for every method in ``settings`` and returns one record per item, in order.

    Args:
        items: Items to score.
        backend: The model.
        settings: Methods, prompt format and few-shot settings.
        task: Task name stored in the records.
        style: The task's cloze style.
        fewshot_pool: Items few-shot examples are drawn from (the item itself is never used).
        on_progress: Called with the number of items finished, once per backend batch.
    """
    continuation = any(method in CONTINUATION_METHODS for method in settings.methods)
    options: list[list[ContinuationScore | None]] = [[None] * len(item.choices) for item in items]
    letters: list[tuple[float, ...] | None] = [None] * len(items)

    if continuation:
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

    if "choice" in settings.methods:
        letter_requests = []
        for item in items:
            prefix = fewshot_examples(
                item, fewshot_pool, k=settings.num_fewshot, seed=settings.seed, format="letters"
            )
            context, continuations = letter_prompt(item)
            letter_requests.append(ScoringRequest(prefix + context, tuple(continuations), key=item.id))
        # The letter's whole continuation is scored: with most tokenizers " A" is one token and this costs
        # one context pass; with others (e.g. a space token first) the first token alone would tie.
        scored_letters = backend.score(
            letter_requests, on_progress=_per_item(on_progress, len(items), len(items))
        )
        letters = [tuple(score.total for score in row) for row in scored_letters]

    records = []
    for position, item in enumerate(items):
        complete = tuple(option for option in options[position] if option is not None)
        records.append(
            ItemRecord(
                task=task,
                id=item.id,
                answer=item.answer,
                n_options=len(item.choices),
                subject=item.subject,
                options=complete if continuation else None,
                letters=letters[position],
            )
        )
    return records


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
