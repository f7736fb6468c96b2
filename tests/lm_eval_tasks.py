"""A local lm-evaluation-harness task over a JSONL file of items, for tests that run real lm-eval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# lm-eval's continuation ("cloze") format, as llmcal's `qa` cloze style renders it.
_TASK_YAML = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
"""


def write_local_task(folder: Path, name: str, records: list[dict[str, Any]]) -> Path:
    """Writes ``records`` (question, choices, answer) and the task YAML into ``folder`` (the include path)."""
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    (folder / f"{name}.yaml").write_text(_TASK_YAML.format(name=name, data=data), encoding="utf-8")
    return folder
