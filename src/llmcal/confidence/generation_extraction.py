"""Answer open-ended items with a backend and keep what every generation confidence method reads.

One pass generates every item's answer greedily. Then, for the methods asked for, the P(True) prompt
built on each answer is scored (``p-true``) and the verbalised-confidence prompt is answered
(``verbal``): at most three passes, each batched over all the items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmcal.confidence.generation_methods import GENERATION_METHODS, GenerationPass
from llmcal.confidence.records import GenerationRecord
from llmcal.errors import InputError
from llmcal.scoring.requests import GenerationRequest, ScoringBackend, ScoringRequest
from llmcal.tasks.prompts import (
    P_TRUE_CONTINUATIONS,
    fewshot_examples,
    open_prompt,
    p_true_prompt,
    verbal_prompt,
)
from llmcal.tasks.schema import OpenItem
from llmcal.tasks.spec import DEFAULT_STOP, ClozeStyle

__all__ = [
    "DEFAULT_GENERATION_METHODS",
    "VERBAL_MAX_NEW_TOKENS",
    "GenerationSettings",
    "check_generation_methods",
    "extract_generation_records",
]

DEFAULT_GENERATION_METHODS = ("seq-prob", "mean-prob", "min-prob", "p-true", "verbal")
"""Every generation confidence method, the default of an open-ended evaluation."""

VERBAL_MAX_NEW_TOKENS = 8
"""Tokens the model may write when asked for a probability: a number and a little more."""

_PASS_ORDER: tuple[GenerationPass, ...] = ("answer", "p_true", "verbal")


@dataclass(frozen=True)
class GenerationSettings:
    """How open-ended items are prompted and answered.

    Attributes:
        methods: Confidence methods to compute (names in :data:`GENERATION_METHODS`).
        num_fewshot: Solved examples before each question.
        seed: Seed of the few-shot draw.
        max_new_tokens: The most tokens of an answer.
        stop: The strings every answer ends at; ``None``: each task's own (:attr:`EvalTask.stop`).
    """

    methods: tuple[str, ...] = DEFAULT_GENERATION_METHODS
    num_fewshot: int = 0
    seed: int = 0
    max_new_tokens: int = 32
    stop: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int):
            raise InputError(f"--max-new-tokens must be a positive integer; got {self.max_new_tokens!r}.")
        if self.max_new_tokens < 1:
            raise InputError(f"--max-new-tokens must be a positive integer; got {self.max_new_tokens}.")
        if self.stop is not None:
            # A JSON round trip gives a list; the settings compare equal whichever way they were built.
            object.__setattr__(self, "stop", tuple(self.stop))
            if not self.stop or not all(isinstance(text, str) and text for text in self.stop):
                raise InputError(f"--stop must be non-empty strings; got {self.stop!r}.")

    @property
    def passes(self) -> tuple[GenerationPass, ...]:
        """The passes over the items the methods need, in the order they run (the answer first)."""
        needed = {GENERATION_METHODS.get(name).needs for name in self.methods}
        return tuple(step for step in _PASS_ORDER if step == "answer" or step in needed)

    @property
    def scoring_passes(self) -> int:
        """How many passes over the items answering them and computing :attr:`methods` takes."""
        return len(self.passes)


def check_generation_methods(names: Sequence[str]) -> tuple[str, ...]:
    """Validates generation method names (unknown names suggest the closest one) and drops duplicates."""
    if not names:
        raise InputError("--methods is empty; choose from " + ", ".join(GENERATION_METHODS.names()) + ".")
    for name in names:
        GENERATION_METHODS.get(name)
    return tuple(dict.fromkeys(names))


def extract_generation_records(
    items: Sequence[OpenItem],
    backend: ScoringBackend,
    settings: GenerationSettings,
    *,
    task: str,
    style: ClozeStyle = "qa",
    stop: tuple[str, ...] = DEFAULT_STOP,
    fewshot_pool: Sequence[OpenItem] = (),
    on_progress: Callable[[int], None] | None = None,
) -> list[GenerationRecord]:
    """Answers ``items`` and runs the passes ``settings.methods`` need; one record per item, in order.

    Args:
        items: Items to answer.
        backend: The model.
        settings: Methods, few-shot settings and the answer length limit.
        task: Task name stored in the records.
        style: How the questions are put (``qa`` or ``completion``).
        stop: The strings an answer ends at (``settings.stop`` overrides them).
        fewshot_pool: Items few-shot examples are drawn from (the item itself is never used).
        on_progress: Called with numbers of items finished, per pass.
    """
    prompts = [
        fewshot_examples(
            item, fewshot_pool, k=settings.num_fewshot, seed=settings.seed, format="cloze", style=style
        )
        + open_prompt(item, style=style)
        for item in items
    ]
    stop = settings.stop or stop
    generations = backend.generate(
        [GenerationRequest(prompt, stop, item.id) for prompt, item in zip(prompts, items, strict=True)],
        max_new_tokens=settings.max_new_tokens,
        on_progress=on_progress,
    )
    p_true: list[tuple[float, float] | None] = [None] * len(items)
    verbal: list[str | None] = [None] * len(items)
    if "p_true" in settings.passes:
        requests = [
            ScoringRequest(p_true_prompt(item, generation.text, style=style), P_TRUE_CONTINUATIONS, item.id)
            for item, generation in zip(items, generations, strict=True)
        ]
        p_true = [
            (true.total, false.total) for true, false in backend.score(requests, on_progress=on_progress)
        ]
    if "verbal" in settings.passes:
        answered = backend.generate(
            [
                GenerationRequest(verbal_prompt(item, generation.text, style=style), DEFAULT_STOP, item.id)
                for item, generation in zip(items, generations, strict=True)
            ],
            max_new_tokens=VERBAL_MAX_NEW_TOKENS,
            on_progress=on_progress,
        )
        verbal = [generation.text for generation in answered]
    return [
        GenerationRecord(
            task=task,
            id=item.id,
            answers=item.answers,
            subject=item.subject,
            generation=generation,
            p_true=item_p_true,
            verbal=item_verbal,
            metadata=item.metadata,
        )
        for item, generation, item_p_true, item_verbal in zip(items, generations, p_true, verbal, strict=True)
    ]
