"""``llmcal from-lm-eval samples_*.jsonl``: calibration metrics for an lm-evaluation-harness run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmcal.cli.option_values import strategy_option
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
    n_bins: Annotated[int, typer.Option(min=1, help="Bins for the binned metrics.")] = 15,
    strategy: Annotated[str, typer.Option(help="Top-label binning: uniform | quantile.")] = "uniform",
    n_resamples: Annotated[int, typer.Option(min=1, help="Bootstrap resamples per metric.")] = 1000,
    level: Annotated[float, typer.Option(min=0.5, max=0.999, help="Interval coverage.")] = 0.95,
) -> None:
    """Read lm-eval's per-choice log-likelihoods and write ECE, SCE, Brier and reliability diagrams."""
    binning = strategy_option(strategy)
    from llmcal.confidence.extraction import ExtractionSettings
    from llmcal.importers.lm_eval import import_lm_eval_run
    from llmcal.metrics.settings import MetricSettings
    from llmcal.reports.reliability import save_reliability_pngs
    from llmcal.runs.evaluation import EvalSettings

    metric_settings = MetricSettings(n_bins=n_bins, strategy=binning, n_resamples=n_resamples, level=level)
    settings = EvalSettings(ExtractionSettings(methods=("sum",)), metric_settings)
    with Console(stderr=True).status("computing metrics with bootstrap intervals"):
        tasks, results = import_lm_eval_run(files, out, settings, render=save_reliability_pngs)
    console = Console()
    console.print(summary_table(results, "lm-eval samples: calibration of the acc (sum) predictions"))
    logged = ", ".join(f"{task.name} {number(task.lm_eval_accuracy)}" for task in tasks)
    console.print(f"accuracy lm-eval logged (acc): {logged}")
    console.print(f"wrote {out}/results.json, records.jsonl, bins.csv and reliability diagrams")
