"""``llmcal from-lm-eval samples_*.jsonl``: calibration metrics for an lm-evaluation-harness run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmcal.cli.metric_options import DEFAULTS, Level, NBins, NResamples, Strategy, metric_settings
from llmcal.cli.out_paths import check_out_dir
from llmcal.cli.tables import summary_table
from llmcal.reports.cells import number

__all__ = ["from_lm_eval"]


def from_lm_eval(
    files: Annotated[
        list[Path],
        typer.Argument(help="lm-eval --log_samples files: samples_<task>_<date>.jsonl, one per task."),
    ],
    out: Annotated[
        Path, typer.Option(help="Output directory: records, results.json, bins.csv, diagrams.")
    ] = Path("llmcal-from-lm-eval"),
    n_bins: NBins = DEFAULTS.n_bins,
    strategy: Strategy = DEFAULTS.strategy,
    n_resamples: NResamples = DEFAULTS.n_resamples,
    level: Level = DEFAULTS.level,
) -> None:
    """Read lm-eval's per-choice log-likelihoods and write ECE, SCE, Brier and reliability diagrams."""
    check_out_dir(out)
    settings = metric_settings(n_bins, strategy, n_resamples, level, DEFAULTS.seed)
    from llmcal.confidence.extraction import ExtractionSettings
    from llmcal.importers.lm_eval import import_lm_eval_run
    from llmcal.reports.reliability import save_reliability_pngs
    from llmcal.runs.evaluation import EvalSettings

    evaluation = EvalSettings(ExtractionSettings(methods=("sum",)), settings)
    with Console(stderr=True, markup=False).status("computing metrics with bootstrap intervals"):
        tasks, results = import_lm_eval_run(files, out, evaluation, render=save_reliability_pngs)
    console = Console(markup=False)
    console.print(summary_table(results, "lm-eval samples: calibration of the acc (sum) predictions"))
    logged = ", ".join(f"{task.name} {number(task.lm_eval_accuracy)}" for task in tasks)
    console.print(f"accuracy lm-eval logged (acc): {logged}")
    console.print(f"wrote {out}/results.json, records.jsonl, bins.csv and reliability diagrams")
