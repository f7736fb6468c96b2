"""Preference pairs: what alignment learns from, read from a pairs file or made from multiple-choice items.

A pair is a ``prompt``, the ``chosen`` completion and the ``rejected`` one. Made from items, the prompt and
completions are the strings the scorer reads (the gold option chosen, a wrong one rejected); read from a
JSONL file, each line is ``{"prompt", "chosen", "rejected"}``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llmcal.errors import InputError
from llmcal.jsonl import read_jsonl
from llmcal.tasks.loading import load_items
from llmcal.tasks.prompts import PromptFormat, option_pairs
from llmcal.tasks.schema import MCItem
from llmcal.tasks.spec import ClozeStyle

__all__ = [
    "PreferencePair",
    "RejectedChoice",
    "load_preference_pairs",
    "preference_pairs_from_items",
    "read_preference_pairs",
]

RejectedChoice = Literal["random", "all"]


@dataclass(frozen=True)
class PreferencePair:
    """One preference: ``prompt + chosen`` is preferred to ``prompt + rejected``."""

    prompt: str
    chosen: str
    rejected: str


def preference_pairs_from_items(
    items: Sequence[MCItem],
    *,
    format: PromptFormat = "cloze",
    style: ClozeStyle = "qa",
    rejected: RejectedChoice = "random",
    seed: int = 0,
) -> list[PreferencePair]:
    """Preference pairs from MC items: chosen = the gold option, rejected = a wrong one.

    The prompt and continuations are exactly what the scorer uses for ``format`` and ``style``, so the
    preference is learnt on the same strings the evaluation reads confidences from.

    Args:
        items: Items with gold answers.
        format: ``cloze`` (option texts) or ``letters`` (option letters).
        style: Cloze style of the items.
        rejected: ``random``: one wrong option per item, drawn with ``seed``; ``all``: one pair per wrong
            option.
        seed: Seed of the ``random`` draw (per item, so a pair does not depend on the other items).

    Raises:
        InputError: If an item has a single option, or uses ``partial`` style (options differ in the
            context there, so there is no shared prompt).
    """
    if style == "partial" and format == "cloze":
        raise InputError("Preference pairs need a prompt shared by the options; `partial` style has none.")
    pairs: list[PreferencePair] = []
    for item in items:
        if len(item.choices) < 2:
            raise InputError(f"item {item.id!r}: a preference pair needs at least two options.")
        options = option_pairs(item, format=format, style=style)
        prompt, chosen = options[item.answer]
        wrong = [continuation for index, (_, continuation) in enumerate(options) if index != item.answer]
        if rejected == "random":
            wrong = [random.Random(f"{seed}:{item.id}").choice(wrong)]
        pairs.extend(PreferencePair(prompt, chosen, continuation) for continuation in wrong)
    return pairs


def read_preference_pairs(path: str | Path) -> list[PreferencePair]:
    """Reads ``{"prompt": str, "chosen": str, "rejected": str}`` lines from a JSONL file.

    Raises:
        InputError: Naming ``file:line`` and the field, for a missing file, bad JSON or a bad field.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: no such preference file (expected JSONL with prompt/chosen/rejected).")
    pairs: list[PreferencePair] = []
    for line_number, record in read_jsonl(source):
        where = f"{source}:{line_number}"
        if not isinstance(record, dict):
            raise InputError(f"{where}: expected a JSON object with prompt, chosen and rejected.")
        fields = []
        for name in ("prompt", "chosen", "rejected"):
            value = record.get(name)
            if not isinstance(value, str) or (name != "prompt" and not value):
                raise InputError(f"{where}: field {name!r} must be a non-empty string; got {value!r}.")
            fields.append(value)
        if fields[1] == fields[2]:
            raise InputError(f"{where}: 'chosen' and 'rejected' are the same text; nothing to prefer.")
        pairs.append(PreferencePair(*fields))
    if not pairs:
        raise InputError(f"{source}: no preference pairs in the file.")
    return pairs


def load_preference_pairs(
    path: Path,
    *,
    format: PromptFormat = "cloze",
    style: ClozeStyle = "qa",
    rejected: RejectedChoice = "random",
    seed: int = 0,
) -> list[PreferencePair]:
    """Preference pairs from a pairs file (JSONL whose first record has ``chosen``) or from MC items.

    Raises:
        InputError: For an unreadable file or a malformed record (with its ``file:line``).
    """
    if _is_preference_file(path):
        return read_preference_pairs(path)
    return preference_pairs_from_items(
        load_items(path), format=format, style=style, rejected=rejected, seed=seed
    )


def _is_preference_file(path: Path) -> bool:
    """Whether ``path`` is a JSONL file of preference pairs (its first record has ``chosen``)."""
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    for _, record in read_jsonl(path):  # a bad first line is reported here, with its file:line
        return isinstance(record, dict) and "chosen" in record
    return False
