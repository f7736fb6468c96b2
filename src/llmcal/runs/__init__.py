"""Every on-disk format of llmcal: run manifests, the records store, typed results and run kinds.

Each kind of output directory (evaluation, fine-tuning, alignment, comparison, calibration, demo) has one
module here that writes and reads it; :func:`read_output` reads any of them, and :data:`RUN_KINDS` lists
them.
"""

from __future__ import annotations

from llmcal.runs.comparison import ComparedPair, ComparisonResults, read_comparison, write_comparison_results
from llmcal.runs.demo import DemoResults, DemoRow, read_demo, write_demo
from llmcal.runs.eval_run import EvalRun, read_eval_run
from llmcal.runs.evaluation import (
    EvalResults,
    EvalSettings,
    Stratification,
    StratumResults,
    TaskResults,
    TaskStrata,
    read_eval_results,
    write_eval_results,
)
from llmcal.runs.kinds import RUN_KINDS, RunKind, RunOutput, TrainingRun, read_output, run_kind
from llmcal.runs.manifest import RUN_FORMAT, build_manifest, check_resume, read_manifest, write_manifest
from llmcal.runs.predictions import read_predictions
from llmcal.runs.recalibration import (
    MethodRecalibration,
    RecalibrationResults,
    RecalibrationSettings,
    read_recalibration,
    write_recalibration,
)
from llmcal.runs.records import RecordStore
from llmcal.runs.training import TrainingResults, read_training_results, write_training_results

__all__ = [
    "RUN_FORMAT",
    "RUN_KINDS",
    "ComparedPair",
    "ComparisonResults",
    "DemoResults",
    "DemoRow",
    "EvalResults",
    "EvalRun",
    "EvalSettings",
    "MethodRecalibration",
    "RecalibrationResults",
    "RecalibrationSettings",
    "RecordStore",
    "RunKind",
    "RunOutput",
    "Stratification",
    "StratumResults",
    "TaskResults",
    "TaskStrata",
    "TrainingResults",
    "TrainingRun",
    "build_manifest",
    "check_resume",
    "read_comparison",
    "read_demo",
    "read_eval_results",
    "read_eval_run",
    "read_manifest",
    "read_output",
    "read_predictions",
    "read_recalibration",
    "read_training_results",
    "run_kind",
    "write_comparison_results",
    "write_demo",
    "write_eval_results",
    "write_manifest",
    "write_recalibration",
    "write_training_results",
]
