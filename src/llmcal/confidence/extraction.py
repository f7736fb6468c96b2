"""Score items with a backend and keep every option's raw scores as :class:`ItemRecord` s.

The requested methods are grouped by the request family each declares, and each family is scored in one
pass (the continuation methods ``sum``, ``mean``, ``min`` share one; ``choice`` needs the letters prompt).
All requested methods are computed on the same items in one run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from llmcal.confidence.families import FamilyScores, Prompting, RequestFamily
from llmcal.confidence.methods import METHODS
from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.scoring.requests import ScoringBackend
from llmcal.tasks.prompts import PromptFormat
from llmcal.tasks.schema import MCItem
from llmcal.tasks.spec import ClozeStyle

__all__ = ["ExtractionSettings", "check_methods", "extract_records", "request_families", "scoring_passes"]


def _every_method() -> tuple[str, ...]:
    """Every registered multiple-choice method: an evaluation's default (read when settings are made)."""
    return tuple(METHODS.names())


@dataclass(frozen=True)
class ExtractionSettings:
    """How items are prompted and scored.

    Attributes:
        methods: Confidence methods to compute (names in :data:`~llmcal.confidence.methods.METHODS`);
            default: every one.
        format: Prompt format of the continuation methods (``cloze`` or ``letters``).
        num_fewshot: Solved examples before each item.
        seed: Seed of the few-shot draw.
    """

    methods: tuple[str, ...] = field(default_factory=_every_method)
    format: PromptFormat = "cloze"
    num_fewshot: int = 0
    seed: int = 0

    @property
    def scoring_passes(self) -> int:
        """Passes over the items that scoring :attr:`methods` takes (see :func:`scoring_passes`)."""
        return scoring_passes(self.methods)


def check_methods(names: Sequence[str]) -> tuple[str, ...]:
    """Validates method names (unknown names suggest the closest one) and drops duplicates."""
    if not names:
        raise InputError(
            "`methods` is empty; choose from " + ", ".join(METHODS.names()) + ".", parameter="methods"
        )
    for name in names:
        METHODS.get(name)
    return tuple(dict.fromkeys(names))


def request_families(methods: Iterable[str]) -> list[RequestFamily]:
    """The distinct request families ``methods`` read, in the order their first method was registered.

    Registration order, not the order of ``methods``, so a run scores its passes in the same order
    whichever way the user listed the methods.

    Raises:
        InputError: If a name is not a registered method (suggesting the closest).
    """
    wanted = list(methods)
    for name in wanted:
        METHODS.get(name)  # unknown names fail here, with suggestions
    return list(dict.fromkeys(METHODS.get(name).family for name in METHODS.names() if name in wanted))


def scoring_passes(methods: Iterable[str]) -> int:
    """How many passes over the items scoring ``methods`` takes: one per distinct request family.

    Raises:
        InputError: If a name is not a registered method (suggesting the closest).
    """
    return len(request_families(methods))


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
    scores = [FamilyScores()] * len(items)
    for family in request_families(settings.methods):
        family_scores = family.score(items, backend, Prompting(settings, style, fewshot_pool), on_progress)
        scores = [have.merged_with(new) for have, new in zip(scores, family_scores, strict=True)]
    return [
        ItemRecord(
            task=task,
            id=item.id,
            answer=item.answer,
            n_options=len(item.choices),
            subject=item.subject,
            options=item_scores.options,
            letters=item_scores.letters,
            metadata=item.metadata,
        )
        for item, item_scores in zip(items, scores, strict=True)
    ]
