"""``llmcal eval --answers FILE``: answers made elsewhere, checked against the tasks and methods first.

Every check happens before the model loads or anything is written: the tasks are open-ended, every item
has an answer and every answer an item, no chosen method needs the model to write (``verbal``), and the
methods over samples find the same number of samples (at least 2) for every item, which replaces
``--samples``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from llmcal.confidence.extraction import ExtractionSettings
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.confidence.generation_methods import GENERATION_METHODS
from llmcal.confidence.generation_passes import VERBAL
from llmcal.errors import InputError
from llmcal.scoring.given_answers import GivenAnswer, read_given_answers
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks.selection import EvalTask

__all__ = ["given_answers_option", "refuse_sampling_options"]


def refuse_sampling_options(given: Sequence[str]) -> None:
    """Sampling options beside ``--answers``: refused, since the file's samples are the samples.

    Raises:
        InputError: If any was given.
    """
    if given:
        raise InputError(
            f"{', '.join(given)} set how new answers are sampled; with --answers the file's 'samples' are "
            "the samples (their number replaces --samples). Leave them out."
        )


def given_answers_option(
    path: Path,
    tasks: Sequence[EvalTask],
    settings: ExtractionSettings | GenerationSettings,
    *,
    methods_given: bool,
) -> tuple[dict[str, GivenAnswer], GenerationSettings]:
    """The answers of ``path`` and the settings they are scored under.

    Args:
        path: The answers file (:func:`~llmcal.scoring.given_answers.read_given_answers`).
        tasks: The tasks chosen, items limited.
        settings: The settings the options chose.
        methods_given: Whether ``--methods`` was given (else the defaults lose ``verbal``).

    Raises:
        InputError: On any mismatch, saying which and how to fix it.
    """
    if not isinstance(settings, GenerationSettings):
        raise InputError("--answers gives answers to open-ended items; these items are multiple-choice.")
    writing = [name for name in settings.methods if GENERATION_METHODS.get(name).needs is VERBAL]
    if writing and methods_given:
        raise InputError(
            f"{', '.join(writing)} needs the model to write a new answer; --answers only scores the answers "
            "given. Leave it out of --methods."
        )
    methods = tuple(name for name in settings.methods if name not in writing)
    answers = read_given_answers(path)
    ids = [item.id for task in tasks for item in task.items]
    if len(set(ids)) != len(ids):
        raise InputError(
            "--answers finds an item's answer by its id, and the tasks chosen share ids; give the answers of "
            "one task at a time."
        )
    missing = [item_id for item_id in ids if item_id not in answers]
    if missing:
        raise InputError(
            f"{path}: {len(missing)} of {len(ids)} items have no answer (item {missing[0]!r} is one); give "
            "one line per item, or choose the items answered (--limit)."
        )
    unknown = sorted(set(answers) - set(ids))
    if unknown:
        raise InputError(
            f"{path}: {len(unknown)} answers are for no item of the tasks chosen (id {unknown[0]!r} is one); "
            "is it the answers file of these tasks?"
        )
    chosen = replace(settings, methods=methods, sampling=None)
    if chosen.sampling is None:  # no method over samples: the file's samples are not read
        return answers, chosen
    counts = {len(answers[item_id].samples) for item_id in ids}
    if len(counts) != 1 or min(counts) < 2:
        raise InputError(
            f"{path}: the methods over samples need the same number of 'samples' (at least 2) for every "
            f"item; found {sorted(counts)[:5]}."
        )
    return answers, replace(chosen, sampling=SamplingSettings(samples=counts.pop(), seed=settings.seed))
