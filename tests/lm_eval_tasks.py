"""A local lm-evaluation-harness task over a JSONL file of items, for tests that run real lm-eval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# lm-eval's continuation ("cloze") format; the prompt comes from DOC_TO_TEXT.
_TASK_YAML = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{doc_to_text}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
"""


# The prompt of each llmcal cloze style lm-eval can express (the option follows after one space).
DOC_TO_TEXT = {"qa": "Question: {{question}}\\nAnswer:", "completion": "{{question}}"}


def write_local_task(folder: Path, name: str, records: list[dict[str, Any]], *, style: str = "qa") -> Path:
    """Writes ``records`` (question, choices, answer) and the task YAML into ``folder`` (the include path)."""
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    (folder / f"{name}.yaml").write_text(
        _TASK_YAML.format(name=name, data=data, doc_to_text=DOC_TO_TEXT[style]), encoding="utf-8"
    )
    return folder


_GENERATION_TASK_YAML = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{doc_to_text}"
doc_to_target: "{{{{answers[0]}}}}"
generation_kwargs:
  until: {until}
  do_sample: false
  max_gen_toks: {max_gen_toks}
metric_list:
  - metric: exact_match
"""


def write_local_generation_task(
    folder: Path,
    name: str,
    records: list[dict[str, Any]],
    *,
    style: str = "qa",
    until: tuple[str, ...] = ("\n",),
    max_gen_toks: int = 32,
) -> Path:
    """Writes open-ended ``records`` (question, answers) and a ``generate_until`` task YAML into ``folder``.

    The prompt is the one llmcal generates after (``llmcal.tasks.prompts.open_prompt``), greedy, ending at
    ``until`` or after ``max_gen_toks`` tokens.
    """
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    yaml = _GENERATION_TASK_YAML.format(
        name=name,
        data=data,
        doc_to_text=DOC_TO_TEXT[style],
        until=json.dumps(list(until)),
        max_gen_toks=max_gen_toks,
    )
    (folder / f"{name}.yaml").write_text(yaml, encoding="utf-8")
    return folder
