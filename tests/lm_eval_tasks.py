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


def run_lm_eval(model: str, folder: Path, task: str, *, batch_size: int, timeout: int = 900) -> Path:
    """Runs real lm-eval's command line with ``--log_samples`` on ``task`` in ``folder``; returns its output.

    Offline (``HF_*_OFFLINE``), float32 on the CPU, as llmcal's tests compare against it.
    """
    import os
    import subprocess
    import sys

    output = folder / "output"
    command = [
        sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
        "--tasks", task, "--include_path", str(folder), "--device", "cpu", "--batch_size", str(batch_size),
        "--log_samples", "--output_path", str(output),
    ]  # fmt: skip
    environment = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    subprocess.run(command, check=True, capture_output=True, env=environment, timeout=timeout)
    return output
