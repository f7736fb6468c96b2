"""Generation passes: what a confidence method for generated answers needs besides the answer, each run once.

The open-ended counterpart of the request families (:mod:`llmcal.confidence.families`). Every item is first
answered greedily; a generation method then declares the pass whose output it reads
(:mod:`llmcal.confidence.generation_methods`), and extraction runs each pass the requested methods name
once, batched over all the items:

- :data:`ANSWER`: the answer alone, nothing more to run (``seq-prob``, ``mean-prob``, ``min-prob``);
- :data:`P_TRUE`: the P(True) prompt built on each answer, scored (``p-true``);
- :data:`VERBAL`: the verbalised-confidence prompt built on each answer, answered (``verbal``);
- :data:`SAMPLES`: more answers to the item's own prompt, sampled (the methods over samples,
  :mod:`llmcal.confidence.sample_methods`).

Each pass fills its own field of :class:`~llmcal.confidence.records.GenerationRecord`; the record's on-disk
format is fixed, so a new pass that needs new data also needs a new record field.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from llmcal.confidence.answer_equivalence import AliasMatch, Equivalence
from llmcal.confidence.records import GenerationRecord
from llmcal.errors import InputError
from llmcal.scoring.requests import (
    BackendOperation,
    Generation,
    GenerationRequest,
    ScoringBackend,
    ScoringRequest,
)
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks.prompts import P_TRUE_CONTINUATIONS, p_true_prompt, verbal_prompt
from llmcal.tasks.schema import OpenItem
from llmcal.tasks.spec import DEFAULT_STOP, ClozeStyle

__all__ = [
    "ANSWER",
    "P_TRUE",
    "SAMPLES",
    "VERBAL",
    "VERBAL_MAX_NEW_TOKENS",
    "AnsweredItems",
    "GenerationPass",
    "PassOutputs",
]

VERBAL_MAX_NEW_TOKENS = 8
"""Tokens the model may write when asked for a probability: a number and a little more."""

# Called with numbers of items finished (progress bars); None when nobody listens.
Progress = Callable[[int], None] | None


@dataclass(frozen=True)
class AnsweredItems:
    """Items with the answers the model generated: what every pass after the answer builds its prompts on.

    Attributes:
        items: The items, in order.
        answers: The model's greedy answer to each item, aligned with ``items``.
        style: How the questions are put (``qa`` or ``completion``).
        prompts: The prompts the answers were generated from (few-shot examples included), aligned with
            ``items``; sampling asks them again.
        stop: The strings the answers ended at.
        max_new_tokens: The most tokens of an answer.
        sampling: How answers are sampled, for the passes that sample.
        equivalence: How the answer and its samples are grouped into classes of equal meaning.
    """

    items: Sequence[OpenItem]
    answers: Sequence[Generation]
    style: ClozeStyle = "qa"
    prompts: Sequence[str] = ()
    stop: tuple[str, ...] = DEFAULT_STOP
    max_new_tokens: int = 32
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    equivalence: Equivalence = field(default_factory=AliasMatch)


@dataclass(frozen=True)
class PassOutputs:
    """What the passes produced for one item, in the fields the generation record stores.

    Attributes:
        p_true: ``(log P(True), log P(False))`` of the answer (``None`` if :data:`P_TRUE` did not run).
        verbal: The text the model wrote when asked for a probability (``None`` if :data:`VERBAL` did not).
        samples: The sampled answers (``None`` if :data:`SAMPLES` did not run).
        sample_classes: Equivalence classes of the answer and then each sample (``None`` likewise).
    """

    p_true: tuple[float, float] | None = None
    verbal: str | None = None
    samples: tuple[Generation, ...] | None = None
    sample_classes: tuple[int, ...] | None = None

    def merged_with(self, other: PassOutputs) -> PassOutputs:
        """These outputs plus those ``other`` holds.

        Raises:
            InputError: If both hold the same field: two passes would be writing one record field.
        """
        if (
            (self.p_true is not None and other.p_true is not None)
            or (self.verbal is not None and other.verbal is not None)
            or (self.samples is not None and other.samples is not None)
        ):
            raise InputError(
                "Two generation passes produced the same record field; each pass must fill its own "
                "field of GenerationRecord (see llmcal.confidence.generation_passes)."
            )
        return PassOutputs(
            p_true=self.p_true if other.p_true is None else other.p_true,
            verbal=self.verbal if other.verbal is None else other.verbal,
            samples=self.samples if other.samples is None else other.samples,
            sample_classes=self.sample_classes if other.sample_classes is None else other.sample_classes,
        )


class GenerationPass(ABC):
    """A pass over answered items, and how its results become the fields of their records.

    Passes are compared by identity: every method holding the same pass object shares its run.
    """

    name: str
    """Short name, for messages and docs."""
    operations: frozenset[BackendOperation]
    """What it asks of the backend besides the answer (a server may lack one: the run is refused first)."""

    def __repr__(self) -> str:
        return f"<generation pass {self.name}>"

    @abstractmethod
    def run(
        self, answered: AnsweredItems, backend: ScoringBackend, on_progress: Progress
    ) -> list[PassOutputs]:
        """Runs the pass over every answered item; one :class:`PassOutputs` per item, in order.

        Args:
            answered: The items and the model's answers to them.
            backend: The model.
            on_progress: Called with numbers of items finished, adding up to ``len(answered.items)``.
        """

    @abstractmethod
    def ran_on(self, record: GenerationRecord) -> bool:
        """Whether ``record`` holds this pass's output (the run that wrote it computed the pass)."""


class _AnswerPass(GenerationPass):
    """The greedy answer itself, generated before any pass runs: nothing more to run."""

    name = "answer"
    operations: frozenset[BackendOperation] = frozenset()

    def run(
        self, answered: AnsweredItems, backend: ScoringBackend, on_progress: Progress
    ) -> list[PassOutputs]:
        return [PassOutputs()] * len(answered.items)

    def ran_on(self, record: GenerationRecord) -> bool:
        return True


class _PTruePass(GenerationPass):
    """Kadavath et al. (2022): the model is shown its answer and scores " True" and " False" after it."""

    name = "p_true"
    operations: frozenset[BackendOperation] = frozenset({"score"})

    def run(
        self, answered: AnsweredItems, backend: ScoringBackend, on_progress: Progress
    ) -> list[PassOutputs]:
        requests = [
            ScoringRequest(
                p_true_prompt(item, answer.text, style=answered.style), P_TRUE_CONTINUATIONS, item.id
            )
            for item, answer in zip(answered.items, answered.answers, strict=True)
        ]
        return [
            PassOutputs(p_true=(true.total, false.total))
            for true, false in backend.score(requests, on_progress=on_progress)
        ]

    def ran_on(self, record: GenerationRecord) -> bool:
        return record.p_true is not None


class _VerbalPass(GenerationPass):
    """The model is asked how likely its answer is to be right, and writes a few tokens in reply."""

    name = "verbal"
    operations: frozenset[BackendOperation] = frozenset({"generate"})

    def run(
        self, answered: AnsweredItems, backend: ScoringBackend, on_progress: Progress
    ) -> list[PassOutputs]:
        requests = [
            GenerationRequest(verbal_prompt(item, answer.text, style=answered.style), DEFAULT_STOP, item.id)
            for item, answer in zip(answered.items, answered.answers, strict=True)
        ]
        replies = backend.generate(requests, max_new_tokens=VERBAL_MAX_NEW_TOKENS, on_progress=on_progress)
        return [PassOutputs(verbal=reply.text) for reply in replies]

    def ran_on(self, record: GenerationRecord) -> bool:
        return record.verbal is not None


class _SamplePass(GenerationPass):
    """More answers to each item's own prompt, drawn as :attr:`AnsweredItems.sampling` says."""

    name = "samples"
    operations: frozenset[BackendOperation] = frozenset({"sample"})

    def run(
        self, answered: AnsweredItems, backend: ScoringBackend, on_progress: Progress
    ) -> list[PassOutputs]:
        if len(answered.prompts) != len(answered.items):
            raise InputError("Sampling needs the prompt each answer was generated from.")
        requests = [
            GenerationRequest(prompt, answered.stop, item.id)
            for prompt, item in zip(answered.prompts, answered.items, strict=True)
        ]
        sampled = backend.sample(
            requests,
            settings=answered.sampling,
            max_new_tokens=answered.max_new_tokens,
            on_progress=on_progress,
        )
        classes = answered.equivalence.classes(
            [item.question for item in answered.items],
            [
                [answer.text, *(sample.text for sample in samples)]
                for answer, samples in zip(answered.answers, sampled, strict=True)
            ],
        )
        return [
            PassOutputs(samples=tuple(samples), sample_classes=found)
            for samples, found in zip(sampled, classes, strict=True)
        ]

    def ran_on(self, record: GenerationRecord) -> bool:
        return record.samples is not None


ANSWER: GenerationPass = _AnswerPass()
"""The answer alone: read by ``seq-prob``, ``mean-prob`` and ``min-prob``; always run first."""
P_TRUE: GenerationPass = _PTruePass()
"""The P(True) prompt on each answer, scored: read by ``p-true``."""
VERBAL: GenerationPass = _VerbalPass()
"""The verbalised-confidence prompt on each answer, answered: read by ``verbal``."""
SAMPLES: GenerationPass = _SamplePass()
"""More answers sampled from each item's prompt: read by the methods over samples."""
