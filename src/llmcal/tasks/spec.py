"""Task specs: where a benchmark's data lives on the Hugging Face hub and how its rows become items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmcal.errors import InputError
from llmcal.registry import Registry
from llmcal.tasks.loading import RowConverter, items_from_rows, load_hf_rows
from llmcal.tasks.schema import MCItem

__all__ = ["TASKS", "ClozeStyle", "TaskSpec", "load_task"]

ClozeStyle = Literal["qa", "completion", "partial"]
"""How the ``cloze`` format renders an item (the ``letters`` format is the same for every task):

- ``qa``: ``"Question: {question}\\nAnswer:"`` + ``" {option}"`` (ARC, PIQA, SciQ, ...).
- ``completion``: the question is the start of a text and each option continues it directly:
  ``"{question}"`` + ``" {option}"`` (HellaSwag, OpenBookQA).
- ``partial``: the question holds a blank ``_``; each option fills it and the score is that of the text
  after the blank given the filled prefix (Winogrande, "partial evaluation" as in lm-evaluation-harness).
"""


@dataclass(frozen=True)
class TaskSpec:
    """A built-in benchmark.

    Attributes:
        name: Task name on the command line (``--task``).
        hf_path: Hugging Face dataset id (or a local path ``datasets`` can read).
        hf_config: Dataset config name, if any.
        split: Split that is evaluated.
        fewshot_split: Split few-shot examples are drawn from (``None``: the evaluated split, never the
            item itself).
        convert: Maps a dataset row to a schema record; ``None`` skips the row (e.g. unlabelled rows).
        cloze_style: How ``--format cloze`` renders its items (see :data:`ClozeStyle`).
        description: One line for ``llmcal tasks``.
    """

    name: str
    hf_path: str
    hf_config: str | None
    split: str
    fewshot_split: str | None
    convert: RowConverter
    cloze_style: ClozeStyle = "qa"
    description: str = ""


TASKS: Registry[TaskSpec] = Registry("task")


def load_task(spec: TaskSpec, *, split: str | None = None, path: str | None = None) -> list[MCItem]:
    """Loads and converts one split of a built-in task.

    Args:
        spec: The task.
        split: Split to load (default: ``spec.split``).
        path: Override of ``spec.hf_path``, e.g. a local copy of the dataset on an offline machine.

    Raises:
        InputError: If the dataset cannot be loaded or a row cannot be converted.
    """
    source = path or spec.hf_path
    split = split or spec.split
    rows = load_hf_rows(source, spec.hf_config, split)
    if not rows:
        raise InputError(f"{spec.name}: split {split!r} of {source} is empty.")
    label = f"{spec.name} ({source}, split {split})"
    return items_from_rows(enumerate(rows), label, convert=spec.convert)
