"""Runs made by other tools, read into llmcal's run format (lm-evaluation-harness ``--log_samples``)."""

from __future__ import annotations

from llmcal.importers.lm_eval import HarnessTask, import_lm_eval_run, read_lm_eval_samples

__all__ = ["HarnessTask", "import_lm_eval_run", "read_lm_eval_samples"]
