"""``llmcal from-lm-eval samples_*.jsonl``: calibration metrics for an lm-evaluation-harness run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llmcal.cli.option_values import strategy_option

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
    from llmcal.evaluation import EvalSettings
    from llmcal.lm_eval_samples import import_lm_eval_run

    settings = EvalSettings(
        ExtractionSettings(methods=("sum",)),
        n_bins=n_bins,
        strategy=binning,
        n_resamples=n_resamples,
        level=level,
    )
    with Console(stderr=True).status("computing metrics with bootstrap intervals"):
        tasks, results = import_lm_eval_run(files, out, settings)
    table = Table(title="lm-eval samples: calibration of the acc (sum) predictions")
    for column in ("task", "n", "lm-eval acc", "acc", "ECE", "SCE", "Brier", "smooth ECE"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task in tasks:
        metrics = results["tasks"][task.name]["methods"]["sum"]["metrics"]
        logged = "n/a" if task.lm_eval_accuracy is None else f"{task.lm_eval_accuracy:.4f}"
        table.add_row(
            task.name,
            str(len(task.records)),
            logged,
            *(f"{metrics[name]['value']:.4f}" for name in ("accuracy", "ece", "sce", "brier", "smooth_ece")),
        )
    console = Console()
    console.print(table)
    console.print(f"wrote {out}/results.json, records.jsonl, bins.csv and reliability diagrams")
