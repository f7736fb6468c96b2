"""Answer open-ended items with a backend and keep what every generation confidence method reads.

One pass generates every item's answer greedily. Then each further pass the requested methods read
(:mod:`llmcal.confidence.generation_passes`) runs once, batched over all the items: the P(True) prompt
built on each answer is scored (``p-true``), the verbalised-confidence prompt is answered (``verbal``),
more answers to the item's prompt are sampled (the methods over samples).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from llmcal.confidence.answer_equivalence import (
    AliasMatch,
    AliasTable,
    BidirectionalEntailment,
    Equivalence,
)
from llmcal.confidence.generation_methods import GENERATION_METHODS
from llmcal.confidence.generation_passes import (
    ANSWER,
    SAMPLES,
    VERBAL_MAX_NEW_TOKENS,
    AnsweredItems,
    GenerationPass,
    PassOutputs,
)
from llmcal.confidence.records import GenerationRecord
from llmcal.errors import InputError
from llmcal.scoring.nli import NliModel
from llmcal.scoring.requests import GenerationRequest, ScoringBackend
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks.prompts import fewshot_examples, open_prompt
from llmcal.tasks.schema import OpenItem
from llmcal.tasks.spec import DEFAULT_STOP, ClozeStyle

__all__ = [
    "VERBAL_MAX_NEW_TOKENS",
    "GenerationSettings",
    "check_generation_methods",
    "extract_generation_records",
    "generation_passes",
    "sampling_method_names",
    "single_pass_method_names",
]


@functools.cache
def nli_model(name: str) -> NliModel:
    """The NLI model ``name``, loaded once per process (every chunk of a run groups answers with it)."""
    return NliModel(name)


def sampling_method_names() -> tuple[str, ...]:
    """The registered methods over samples, in registration order."""
    return tuple(name for name in GENERATION_METHODS.names() if GENERATION_METHODS.get(name).needs is SAMPLES)


def single_pass_method_names() -> tuple[str, ...]:
    """Every registered single-pass method: an open-ended run's default (read when settings are made).

    The methods over samples cost ``K`` more answers per item, so they run only when asked for.
    """
    return tuple(
        name for name in GENERATION_METHODS.names() if GENERATION_METHODS.get(name).needs is not SAMPLES
    )


@dataclass(frozen=True)
class GenerationSettings:
    """How open-ended items are prompted and answered.

    Attributes:
        methods: Confidence methods to compute (names in :data:`GENERATION_METHODS`); default: every one
            that needs no samples.
        num_fewshot: Solved examples before each question.
        seed: Seed of the few-shot draw.
        max_new_tokens: The most tokens of an answer.
        stop: The strings every answer ends at; ``None``: each task's own (:attr:`EvalTask.stop`).
        sampling: How answers are sampled for the methods over samples; ``None`` when no such method is
            asked for, and the defaults (:class:`~llmcal.scoring.sampling.SamplingSettings`) when one is
            and none are given.
        nli: The NLI model (folder or hub id) that groups sampled answers by bidirectional entailment;
            ``None``: normalised match aware of the task's aliases
            (:mod:`llmcal.confidence.answer_equivalence`).
    """

    methods: tuple[str, ...] = field(default_factory=single_pass_method_names)
    num_fewshot: int = 0
    seed: int = 0
    max_new_tokens: int = 32
    stop: tuple[str, ...] | None = None
    sampling: SamplingSettings | None = None
    nli: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int):
            raise InputError(
                f"`max_new_tokens` must be a positive integer; got {self.max_new_tokens!r}.",
                parameter="max_new_tokens",
            )
        if self.max_new_tokens < 1:
            raise InputError(
                f"`max_new_tokens` must be a positive integer; got {self.max_new_tokens}.",
                parameter="max_new_tokens",
            )
        if self.stop is not None:
            # A JSON round trip gives a list; the settings compare equal whichever way they were built.
            object.__setattr__(self, "stop", tuple(self.stop))
            if not self.stop or not all(isinstance(text, str) and text for text in self.stop):
                raise InputError(f"`stop` must be non-empty strings; got {self.stop!r}.", parameter="stop")
        if isinstance(self.sampling, dict):  # read back from a run's JSON settings
            object.__setattr__(self, "sampling", SamplingSettings(**self.sampling))
        if self.sampling is None and SAMPLES in self.passes:
            object.__setattr__(self, "sampling", SamplingSettings())

    @property
    def passes(self) -> tuple[GenerationPass, ...]:
        """The passes over the items :attr:`methods` need, in running order (:func:`generation_passes`)."""
        return generation_passes(self.methods)

    @property
    def scoring_passes(self) -> int:
        """How many passes over the items answering them and computing :attr:`methods` takes."""
        return len(self.passes)


def generation_passes(methods: Sequence[str]) -> tuple[GenerationPass, ...]:
    """The distinct passes ``methods`` read: the answer first, then the others in method registration order.

    Registration order, not the order of ``methods``, so a run makes its passes in the same order whichever
    way the user listed the methods.

    Raises:
        InputError: If a name is not a registered generation method (suggesting the closest).
    """
    wanted = list(methods)
    for name in wanted:
        GENERATION_METHODS.get(name)  # unknown names fail here, with suggestions
    needed = (GENERATION_METHODS.get(name).needs for name in GENERATION_METHODS.names() if name in wanted)
    return tuple(dict.fromkeys((ANSWER, *needed)))


def check_generation_methods(names: Sequence[str]) -> tuple[str, ...]:
    """Validates generation method names (unknown names suggest the closest one) and drops duplicates."""
    if not names:
        raise InputError(
            "`methods` is empty; choose from " + ", ".join(GENERATION_METHODS.names()) + ".",
            parameter="methods",
        )
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
    aliases: AliasTable | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[GenerationRecord]:
    """Answers ``items`` and runs the passes ``settings.methods`` need; one record per item, in order.

    Why it is long: the items, the model and the settings, and four things of the task the items come
    from (its name, cloze style, stop strings, few-shot pool), and its answers' aliases.

    Args:
        items: Items to answer.
        backend: The model.
        settings: Methods, few-shot settings and the answer length limit.
        task: Task name stored in the records.
        style: How the questions are put (``qa`` or ``completion``).
        stop: The strings an answer ends at (``settings.stop`` overrides them).
        fewshot_pool: Items few-shot examples are drawn from (the item itself is never used).
        aliases: The accepted answers of the whole task, by which sampled answers are grouped
            (:mod:`llmcal.confidence.answer_equivalence`) unless ``settings.nli`` names an NLI model;
            default: those of ``items``.
        on_progress: Called with numbers of items finished, per pass.
    """
    answered = _answered(items, backend, settings, style, settings.stop or stop, fewshot_pool, on_progress)
    table = aliases if aliases is not None else AliasTable.of(item.answers for item in items)
    equivalence: Equivalence = AliasMatch(table)
    if settings.nli is not None and SAMPLES in settings.passes:  # loaded only when answers are grouped
        equivalence = BidirectionalEntailment(nli_model(settings.nli))
    answered = replace(answered, equivalence=equivalence)
    outputs = [PassOutputs()] * len(items)
    for step in settings.passes:
        step_outputs = step.run(answered, backend, on_progress)
        outputs = [have.merged_with(new) for have, new in zip(outputs, step_outputs, strict=True)]
    return [
        GenerationRecord(
            task=task,
            id=item.id,
            answers=item.answers,
            subject=item.subject,
            generation=answer,
            p_true=item_outputs.p_true,
            verbal=item_outputs.verbal,
            metadata=item.metadata,
            samples=item_outputs.samples,
            sample_classes=item_outputs.sample_classes,
        )
        for item, answer, item_outputs in zip(items, answered.answers, outputs, strict=True)
    ]


def _answered(
    items: Sequence[OpenItem],
    backend: ScoringBackend,
    settings: GenerationSettings,
    style: ClozeStyle,
    stop: tuple[str, ...],
    fewshot_pool: Sequence[OpenItem],
    on_progress: Callable[[int], None] | None,
) -> AnsweredItems:
    """Every item's greedy answer after its few-shot prompt: the pass every other pass builds on."""
    prompts = [
        fewshot_examples(
            item, fewshot_pool, k=settings.num_fewshot, seed=settings.seed, format="cloze", style=style
        )
        + open_prompt(item, style=style)
        for item in items
    ]
    answers = backend.generate(
        [GenerationRequest(prompt, stop, item.id) for prompt, item in zip(prompts, items, strict=True)],
        max_new_tokens=settings.max_new_tokens,
        on_progress=on_progress,
    )
    sampling = settings.sampling or SamplingSettings()
    return AnsweredItems(items, answers, style, prompts, stop, settings.max_new_tokens, sampling)
