"""Multiple-choice items: the schema, loaders, built-in task specs and prompt formats."""

from __future__ import annotations

from llmcal.tasks import builtin as _builtin  # noqa: F401  (importing it registers the built-in task specs)
from llmcal.tasks import facts as _facts  # noqa: F401  (and this the generated fact tasks)
from llmcal.tasks.loading import FieldMap, load_hf_rows, load_items
from llmcal.tasks.prompts import PromptFormat, fewshot_examples, letter_prompt, option_pairs
from llmcal.tasks.schema import MCItem
from llmcal.tasks.selection import EvalTask, select_tasks
from llmcal.tasks.spec import TASKS, AnyTaskSpec, GeneratedTaskSpec, TaskSpec, load_task

__all__ = [
    "TASKS",
    "AnyTaskSpec",
    "EvalTask",
    "FieldMap",
    "GeneratedTaskSpec",
    "MCItem",
    "PromptFormat",
    "TaskSpec",
    "fewshot_examples",
    "letter_prompt",
    "load_hf_rows",
    "load_items",
    "load_task",
    "option_pairs",
    "select_tasks",
]
