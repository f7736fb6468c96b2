r"""Prompt formats: how an item becomes (context, continuation) pairs to score.

- ``cloze``: each option's text is scored as a continuation; the rendering depends on the task's
  :data:`~llmcal.tasks.spec.ClozeStyle` (default ``"Question: q\nAnswer:"`` + ``" option"``).
- ``letters``: options are listed as ``A. ...``; the continuation is the letter:
  ``"q\nA. o1\nB. o2\nAnswer:"`` + ``" A"``. The ``choice`` confidence method always uses this prompt.

Few-shot examples are the same format with their gold answer filled in, separated by a blank line.
A passage (``item.context``) is placed before the question.

Open-ended items are put as the ``qa`` or ``completion`` style says (:func:`open_prompt`), and the
model's own answer is then judged by the model in two more prompts: :func:`p_true_prompt` (is the
proposed answer true or false? Kadavath et al. 2022) and :func:`verbal_prompt` (how likely is it to be
correct? Tian et al. 2023).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from llmcal.errors import InputError
from llmcal.tasks.schema import AnyItem, MCItem, OpenItem
from llmcal.tasks.spec import ClozeStyle

__all__ = [
    "LETTERS",
    "P_TRUE_CONTINUATIONS",
    "PromptFormat",
    "fewshot_examples",
    "gold_open_pair",
    "letter_prompt",
    "open_answer_continuations",
    "open_prompt",
    "option_pairs",
    "p_true_prompt",
    "verbal_prompt",
]

PromptFormat = Literal["cloze", "letters"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FEWSHOT_SEPARATOR = "\n\n"


def _with_passage(item: AnyItem, text: str) -> str:
    return f"{item.context}\n{text}" if item.context else text


def _letters_body(item: MCItem) -> str:
    if len(item.choices) > len(LETTERS):
        raise InputError(f"item {item.id!r}: the letters format supports at most 26 options.")
    listed = "\n".join(f"{LETTERS[index]}. {choice}" for index, choice in enumerate(item.choices))
    return _with_passage(item, f"{item.question}\n{listed}\nAnswer:")


def _blank_split(item: MCItem) -> tuple[str, str]:
    if item.question.count("_") != 1:
        raise InputError(f"item {item.id!r}: partial scoring needs exactly one '_' blank in the question.")
    before, after = item.question.split("_")
    return before, after


def option_pairs(item: MCItem, *, format: PromptFormat, style: ClozeStyle = "qa") -> list[tuple[str, str]]:
    """One ``(context, continuation)`` pair per option of ``item`` (without few-shot examples).

    Most formats share one context across options; ``partial`` style has one context per option and a
    shared continuation.
    """
    if format == "letters":
        body = _letters_body(item)
        return [(body, f" {LETTERS[index]}") for index in range(len(item.choices))]
    if style == "partial":
        before, after = _blank_split(item)
        # As lm-evaluation-harness: the text after the blank, stripped, scored as " rest".
        continuation = " " + after.strip()
        return [(_with_passage(item, before + option), continuation) for option in item.choices]
    prefix = item.question if style == "completion" else f"Question: {item.question}\nAnswer:"
    context = _with_passage(item, prefix)
    return [(context, f" {option}") for option in item.choices]


def letter_prompt(item: MCItem) -> tuple[str, list[str]]:
    """The letters prompt and the letter continuations (``" A"``, ``" B"``, ...), for the choice method."""
    pairs = option_pairs(item, format="letters")
    return pairs[0][0], [continuation for _, continuation in pairs]


def open_prompt(item: OpenItem, *, style: ClozeStyle = "qa") -> str:
    r"""The prompt an open-ended item's answer is generated after.

    ``qa``: ``"Question: {question}\nAnswer:"``; ``completion``: the question itself, a sentence the
    answer completes. (``partial`` needs options and does not apply.)
    """
    if style == "partial":
        raise InputError(f"item {item.id!r}: open-ended items are put in the 'qa' or 'completion' style.")
    prefix = item.question if style == "completion" else f"Question: {item.question}\nAnswer:"
    return _with_passage(item, prefix)


def gold_open_pair(item: OpenItem, *, style: ClozeStyle = "qa") -> tuple[str, str]:
    """``(prompt, " answer")`` with the item's first accepted answer: the solved form of an open item.

    What few-shot examples show, what fine-tuning trains on and whose NLL the knowledge probe reads.
    """
    return open_prompt(item, style=style), open_answer_continuations(item)[0]


def open_answer_continuations(item: OpenItem) -> tuple[str, ...]:
    """Every accepted answer as the continuation of :func:`open_prompt` (``" answer"``), first one first.

    Examples:
        >>> open_answer_continuations(OpenItem("q", "Capital of France?", ("Paris", "Paris, France")))
        (' Paris', ' Paris, France')
    """
    return tuple(f" {answer}" for answer in item.answers)


P_TRUE_CONTINUATIONS = (" True", " False")
"""What :func:`p_true_prompt` is continued with: P(True) is read against P(False)."""


def _proposal(item: OpenItem, answer: str, style: ClozeStyle) -> tuple[str, str]:
    """The question with the proposed answer, and what the model is asked to judge."""
    answer = answer.strip()
    if style == "completion":
        return _with_passage(item, f"Statement: {item.question} {answer}"), "the statement"
    return _with_passage(item, f"Question: {item.question}\nProposed answer: {answer}"), "the proposed answer"


def p_true_prompt(item: OpenItem, answer: str, *, style: ClozeStyle = "qa") -> str:
    """The prompt asking if ``answer`` (the model's own) is true; continued by :data:`P_TRUE_CONTINUATIONS`.

    After Kadavath et al. (2022), "Language Models (Mostly) Know What They Know", with the words True and
    False in place of their lettered options, which small models do not use reliably.
    """
    shown, judged = _proposal(item, answer, style)
    return f"{shown}\nIs {judged} true or false?\nAnswer:"


def verbal_prompt(item: OpenItem, answer: str, *, style: ClozeStyle = "qa") -> str:
    """The prompt asking how likely ``answer`` is to be correct, as a number (Tian et al. 2023)."""
    shown, judged = _proposal(item, answer, style)
    return (
        f"{shown}\nHow likely is {judged} to be correct? Answer with a probability between 0.0 and 1.0."
        "\nProbability:"
    )


def _solved(item: AnyItem, *, format: PromptFormat, style: ClozeStyle) -> str:
    if isinstance(item, OpenItem):
        return "".join(gold_open_pair(item, style=style))
    context, continuation = option_pairs(item, format=format, style=style)[item.answer]
    return context + continuation


def fewshot_examples(
    item: AnyItem,
    pool: Sequence[AnyItem],
    *,
    k: int,
    seed: int,
    format: PromptFormat,
    style: ClozeStyle = "qa",
) -> str:
    """The few-shot prefix for ``item``: ``k`` solved examples from ``pool`` and a trailing blank line.

    An open-ended example is its prompt followed by its first accepted answer (``format`` does not apply).

    Examples are drawn without replacement with a generator seeded by ``seed`` and the item id, so the
    prefix of an item does not depend on which other items are evaluated (resume-safe). The item itself
    is never among its examples.
    """
    if k <= 0:
        return ""
    candidates = [example for example in pool if example.id != item.id]
    if len(candidates) < k:
        raise InputError(
            f"`num_fewshot` {k} needs at least {k} other items; the few-shot pool has {len(candidates)}.",
            parameter="num_fewshot",
        )
    chosen = random.Random(f"{seed}:{item.id}").sample(candidates, k)
    return "".join(_solved(example, format=format, style=style) + _FEWSHOT_SEPARATOR for example in chosen)
