"""``llmcal tasks``: list the built-in tasks with their datasets (or generating sources) and splits."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llmcal.tasks import TASKS, TaskSpec
from llmcal.tasks.mmlu_subjects import MMLU_SUBJECTS

__all__ = ["tasks"]


def tasks(
    all_subjects: Annotated[
        bool, typer.Option("--all", help=f"Also list the {len(MMLU_SUBJECTS)} per-subject MMLU tasks.")
    ] = False,
) -> None:
    """List the built-in tasks (use with `llmcal eval --task NAME`)."""
    table = Table(title="built-in tasks")
    for column in ("task", "answers", "dataset", "split", "few-shot"):
        table.add_column(column, no_wrap=True)
    table.add_column("description")
    hidden = 0
    for name in TASKS:
        if _is_mmlu_subject(name) and not all_subjects:
            hidden += 1
            continue
        spec = TASKS.get(name)
        answers = "written" if spec.kind == "open" else "options"
        if isinstance(spec, TaskSpec):
            dataset = spec.hf_path + (f" ({spec.hf_config})" if spec.hf_config else "")
            table.add_row(name, answers, dataset, spec.split, spec.fewshot_split or "-", spec.description)
        else:  # generated offline: no split; few-shot examples are the task's other items
            table.add_row(name, answers, spec.source, "generated", "items", spec.description)
    console = Console(markup=False)
    console.print(table)
    if hidden:
        console.print(f"({hidden} per-subject tasks mmlu_<subject> not shown; --all lists them)")


def _is_mmlu_subject(name: str) -> bool:
    """Whether ``name`` is one of the per-subject MMLU tasks, ``mmlu_<subject>`` (not a category's)."""
    return name.startswith("mmlu_") and name.removeprefix("mmlu_") in MMLU_SUBJECTS
