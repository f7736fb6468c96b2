"""What an evaluation runs on: built-in tasks by name or an items file, loaded with how to prompt them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmcal.errors import InputError
from llmcal.tasks.loading import item_kind, load_any_items
from llmcal.tasks.schema import ItemKind, MCItem, OpenItem
from llmcal.tasks.spec import DEFAULT_STOP, TASKS, AnyTaskSpec, ClozeStyle, TaskSpec, load_task

__all__ = ["EvalTask", "select_tasks"]


@dataclass(frozen=True)
class EvalTask:
    """One task's items and how to prompt them.

    Attributes:
        name: The task's name in results.
        items: The items scored: all multiple-choice or all open-ended.
        style: How a cloze prompt joins the question and an option (open-ended: how the question is put).
        fewshot_pool: Solved examples drawn for few-shot prompts (the task's few-shot split, or its items).
        stop: Open-ended items: the strings a generated answer ends at.
    """

    name: str
    items: list[MCItem] | list[OpenItem]
    style: ClozeStyle = "qa"
    fewshot_pool: Sequence[MCItem] | Sequence[OpenItem] = ()
    stop: tuple[str, ...] = DEFAULT_STOP

    @property
    def kind(self) -> ItemKind:
        """``mc`` or ``open``: the kind of the task's items."""
        return item_kind(self.items)

    def mc_items(self) -> list[MCItem]:
        """The task's items, for a caller that needs multiple-choice ones.

        Raises:
            InputError: If the task is open-ended.
        """
        items = [item for item in self.items if isinstance(item, MCItem)]
        if len(items) != len(self.items):
            raise InputError(f"task {self.name!r} is open-ended; this needs multiple-choice items.")
        return items


def select_tasks(
    names: Sequence[str] = (),
    data: Path | None = None,
    *,
    dataset_path: str | None = None,
    limit: int | None = None,
    style: ClozeStyle = "qa",
) -> list[EvalTask]:
    """Loads built-in tasks by name, or one items file, as tasks to evaluate.

    Args:
        names: Built-in task names (see :data:`~llmcal.tasks.TASKS`); exclusive with ``data``.
        data: An items file (``.jsonl``/``.csv``/``.parquet``) in either llmcal schema (multiple-choice or
            open-ended); its stem names it.
        dataset_path: A local copy of one built-in task's dataset, read instead of the hub (not for a
            generated task).
        limit: Keep only the first ``limit`` items of each task (the few-shot pool keeps them all).
        style: Cloze style of ``data``'s items (built-in tasks have their own).

    Raises:
        InputError: If neither or both of ``names`` and ``data`` are given, ``dataset_path`` comes with
            several names or a generated task, a name is unknown, or a dataset or file cannot be read.
    """
    if bool(names) == (data is not None):
        raise InputError("Pass exactly one of `names=NAME[,NAME...]` or `data=FILE`.", parameter="names")
    if data is not None:
        items = load_any_items(data)
        return [EvalTask(data.stem, items[:limit] if limit else items, style, fewshot_pool=items)]
    if dataset_path and len(names) != 1:
        raise InputError(
            "`dataset_path` overrides one task's dataset location; pass a single `names`.",
            parameter="dataset_path",
        )
    tasks: list[EvalTask] = []
    for name in names:
        spec = TASKS.get(name)
        items = load_task(spec, path=dataset_path)
        pool = _fewshot_pool(spec, items, dataset_path)
        tasks.append(EvalTask(name, items[:limit] if limit else items, spec.cloze_style, pool, spec.stop))
    kinds = {task.kind for task in tasks}
    if len(kinds) > 1:
        open_tasks = [task.name for task in tasks if task.kind == "open"]
        raise InputError(
            f"{', '.join(open_tasks)} {'is' if len(open_tasks) == 1 else 'are'} open-ended and the other "
            "tasks multiple-choice; their confidence methods differ, so evaluate them in separate runs."
        )
    return tasks


def _fewshot_pool(
    spec: AnyTaskSpec, items: list[MCItem] | list[OpenItem], dataset_path: str | None
) -> list[MCItem] | list[OpenItem]:
    """The task's few-shot split where it has one, else its own items (an item never shows itself)."""
    if isinstance(spec, TaskSpec) and spec.fewshot_split:
        return load_task(spec, path=dataset_path, split=spec.fewshot_split)
    return items
