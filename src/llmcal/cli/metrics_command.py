"""``llmcal metrics FILE``: every calibration metric, with bootstrap intervals, for saved predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmcal.atomic import write_text_atomic
from llmcal.cli.metric_options import DEFAULTS, Level, NBins, NResamples, Seed, Strategy, metric_settings
from llmcal.cli.progress import step_progress
from llmcal.cli.tables import metric_table
from llmcal.errors import InputError
from llmcal.metrics.summary import applicable_metrics, summarize
from llmcal.runs.predictions import InputKind, read_predictions

__all__ = ["metrics"]


def metrics(
    file: Annotated[
        Path, typer.Argument(help="Predictions: .jsonl or .csv (see `llmcal.runs.predictions`).")
    ],
    n_bins: NBins = DEFAULTS.n_bins,
    strategy: Strategy = DEFAULTS.strategy,
    n_resamples: NResamples = DEFAULTS.n_resamples,
    level: Level = DEFAULTS.level,
    seed: Seed = DEFAULTS.seed,
    input_kind: Annotated[str, typer.Option(help="probs | logits (softmax applied per item).")] = "probs",
    probs_key: Annotated[
        str, typer.Option(help="Field (CSV: column prefix) with per-option values.")
    ] = "probs",
    label_key: Annotated[str, typer.Option(help="Field (CSV: column) with the gold option index.")] = "label",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON result to this file.")] = None,
) -> None:
    """Print every calibration metric, with bootstrap intervals, for a file of per-item predictions."""
    settings = metric_settings(n_bins, strategy, n_resamples, level, seed)
    if input_kind not in ("probs", "logits"):
        raise InputError(f"--input-kind must be 'probs' or 'logits'; got {input_kind!r}.")
    kind: InputKind = "logits" if input_kind == "logits" else "probs"
    predictions = read_predictions(file, probs_key=probs_key, label_key=label_key, input_kind=kind)

    err = Console(stderr=True)
    with step_progress(err) as progress:
        task = progress.add_task("bootstrapping", total=len(applicable_metrics(predictions)))
        summary = summarize(
            predictions,
            settings,
            on_metric_done=lambda name: progress.update(task, advance=1, description=name),
        )

    payload = json.dumps(summary.to_dict(), indent=2)
    if out is not None:
        write_text_atomic(out, payload + "\n")
    if as_json:
        typer.echo(payload)
    else:
        Console().print(metric_table(summary))
