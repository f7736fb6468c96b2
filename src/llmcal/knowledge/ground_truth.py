"""Ground-truth prior knowledge (SliCK-style): the model knows an item if it already answers it correctly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.confidence.methods import option_scores
from llmcal.confidence.records import ItemRecord
from llmcal.scoring.requests import GenerationRequest, ScoringBackend
from llmcal.tasks.answers import exact_match
from llmcal.tasks.prompts import PromptFormat, open_prompt
from llmcal.tasks.schema import MCItem, OpenItem
from llmcal.tasks.spec import DEFAULT_STOP, ClozeStyle

__all__ = ["SLICK_CATEGORIES", "known_from_records", "known_items", "known_open_items", "slick_categories"]


def known_from_records(records: Sequence[ItemRecord], method: str = "sum") -> dict[str, bool]:
    """``item id -> known``: whether the argmax over the options under ``method`` is the gold option.

    The records come from evaluating the model *before* fine-tuning, under the item's own scoring. This is
    Gekhman et al.'s (SliCK) greedy criterion; :func:`slick_categories` gives their finer categories.
    """
    return {record.id: int(np.argmax(option_scores(record, method))) == record.answer for record in records}


def known_items(
    items: Sequence[MCItem], backend: ScoringBackend, *, format: PromptFormat, style: ClozeStyle = "qa"
) -> list[bool]:
    """Ground-truth known flags of ``items`` under ``backend``, in item order.

    The items are scored in the prompt ``format`` the model will be trained on: the NLL threshold of
    CogCalib is fitted on the NLL of that prompt, so its ground truth must come from the same prompt
    (a letters-format run whose labels came from cloze scoring would fit one prompt against the other).
    """
    records = extract_records(
        items, backend, ExtractionSettings(("sum",), format=format), task="ground-truth", style=style
    )
    truth = known_from_records(records)
    return [truth[item.id] for item in items]


def known_open_items(
    items: Sequence[OpenItem],
    backend: ScoringBackend,
    *,
    style: ClozeStyle = "qa",
    stop: tuple[str, ...] = DEFAULT_STOP,
    max_new_tokens: int = 32,
) -> list[bool]:
    """Ground truth of open-ended items: whether the model's greedy answer matches an accepted answer.

    The answer is generated after the prompt the model will be trained on (:func:`open_prompt`, no
    examples), ending at ``stop``; matching is :func:`llmcal.tasks.answers.exact_match`.
    """
    generations = backend.generate(
        [GenerationRequest(open_prompt(item, style=style), stop, item.id) for item in items],
        max_new_tokens=max_new_tokens,
    )
    return [
        exact_match(generation.text, item.answers)
        for generation, item in zip(generations, items, strict=True)
    ]


SLICK_CATEGORIES = ("HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown")


def slick_categories(
    records_by_prompt: Sequence[Sequence[ItemRecord]],
    *,
    method: str = "sum",
    samples: int = 16,
    temperature: float = 0.5,
    rng: np.random.Generator | int | None = 0,
) -> dict[str, str]:
    """SliCK knowledge categories (Gekhman et al. 2024) adapted to multiple choice.

    Each inner sequence holds one record per item under one prompt variant (e.g. different few-shot
    examples). Greedy = the argmax option; sampling = ``samples`` draws per prompt from the option
    distribution at ``temperature``:

    - HighlyKnown: greedy is right under every prompt;
    - MaybeKnown: greedy is right under some prompts;
    - WeaklyKnown: greedy is never right, but some sample is;
    - Unknown: neither greedy nor any sample is ever right.

    Raises:
        InputError: If no prompts are given or the prompts do not hold the same items in the same order.
    """
    from llmcal.errors import InputError

    if not records_by_prompt:
        raise InputError("slick_categories needs records from at least one prompt.")
    ids = [record.id for record in records_by_prompt[0]]
    if any([record.id for record in records] != ids for records in records_by_prompt):
        raise InputError("Every prompt's records must cover the same items in the same order.")
    generator = np.random.default_rng(rng)
    categories: dict[str, str] = {}
    for position, item_id in enumerate(ids):
        greedy_hits, sample_hits = 0, 0
        for records in records_by_prompt:
            record = records[position]
            scores = option_scores(record, method)
            greedy_hits += int(np.argmax(scores)) == record.answer
            tempered = np.exp((scores - scores.max()) / temperature)
            drawn = generator.choice(len(scores), size=samples, p=tempered / tempered.sum())
            sample_hits += int((drawn == record.answer).sum())
        if greedy_hits == len(records_by_prompt):
            categories[item_id] = "HighlyKnown"
        elif greedy_hits > 0:
            categories[item_id] = "MaybeKnown"
        else:
            categories[item_id] = "WeaklyKnown" if sample_hits > 0 else "Unknown"
    return categories
