"""``llmcal metrics FILE``: every calibration metric, with bootstrap intervals, for saved predictions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llmcal.cli.metric_options import (
    DEFAULTS,
    By,
    Level,
    NBins,
    NResamples,
    NStrata,
    Seed,
    Strategy,
    metric_settings,
    stratification_option,
)
from llmcal.cli.out_paths import check_out_file
from llmcal.cli.progress import step_progress
from llmcal.cli.tables import metric_table, stratum_summaries_table
from llmcal.errors import InputError
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.strata import Strata, stratify, summarize_strata
from llmcal.metrics.summary import Summary, applicable_metrics, summarize
from llmcal.runs.evaluation import Stratification
from llmcal.runs.prediction_metrics import PredictionMetrics, StratifiedMetrics, write_prediction_metrics
from llmcal.runs.predictions import InputKind, read_field, read_predictions

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
    by: By = None,
    n_strata: NStrata = 4,
) -> None:
    """Print every calibration metric, with bootstrap intervals, for a file of per-item predictions.

    \f
    Why it is long: typer reads a command's options from its parameters, one each; the body is
    the command's steps: read the predictions (and the field to stratify by), summarise them, then write
    and show the result.
    """  # noqa: D301 (the form feed ends the help text Click shows; what follows is for readers of the code)
    if out is not None:
        check_out_file(out, example="metrics.json")
    settings = metric_settings(n_bins, strategy, n_resamples, level, seed)
    kind = _input_kind(input_kind)
    predictions = read_predictions(file, probs_key=probs_key, label_key=label_key, input_kind=kind)
    stratification = stratification_option(by, n_strata)
    strata = None if stratification is None else _strata(file, stratification)

    err = Console(stderr=True, markup=False)
    result = PredictionMetrics(_summary(predictions, settings, err))
    if strata is not None and stratification is not None:
        result = replace(result, strata=_stratified(predictions, strata, stratification, settings, err))
    if out is not None:
        write_prediction_metrics(out, result)
    _show(result, file, strata, as_json=as_json)


def _input_kind(input_kind: str) -> InputKind:
    """``--input-kind`` checked: ``probs`` or ``logits``."""
    if input_kind not in ("probs", "logits"):
        raise InputError(f"--input-kind must be 'probs' or 'logits'; got {input_kind!r}.")
    return "logits" if input_kind == "logits" else "probs"


def _strata(file: Path, stratification: Stratification) -> Strata:
    """The strata of the predictions by ``stratification``'s field, read from ``file``."""
    values = read_field(file, stratification.by)
    try:
        return stratify(values, n_strata=stratification.n_strata)
    except InputError as error:
        raise InputError(f"{file}, field {stratification.by!r}: {error}") from None


def _summary(predictions: Predictions, settings: MetricSettings, err: Console) -> Summary:
    """Every metric over all items, with a progress bar on ``err``.

    One bar over the resamples: every metric is computed on each block of them at once, so the bar moves
    every few seconds however many items there are (the values on all items come first).
    """
    n_metrics = len(applicable_metrics(predictions))
    with step_progress(err) as progress:
        task = progress.add_task(f"{n_metrics} metrics on all items", total=settings.n_resamples)
        return summarize(
            predictions,
            settings,
            on_progress=lambda done, _: progress.update(
                task, completed=done, description=f"{n_metrics} metrics: bootstrap resamples"
            ),
        )


def _stratified(
    predictions: Predictions,
    strata: Strata,
    stratification: Stratification,
    settings: MetricSettings,
    err: Console,
) -> StratifiedMetrics:
    """Every metric per stratum, with a progress bar on ``err`` naming the stratum done."""
    with step_progress(err) as progress:
        task = progress.add_task("strata", total=len(strata.strata))
        summaries = summarize_strata(
            predictions,
            strata,
            settings,
            on_stratum_done=lambda label: progress.update(task, advance=1, description=escape(label)),
        )
    means = [predictions.subset(strata.rows(index)).mean_confidence for index in range(len(summaries))]
    return StratifiedMetrics.of(stratification, strata, summaries, means)


def _show(result: PredictionMetrics, file: Path, strata: Strata | None, *, as_json: bool) -> None:
    """Prints the result: its JSON with ``--json``, else the metrics table and the strata's."""
    if as_json:
        typer.echo(result.to_json())
        return
    console = Console(markup=False)
    console.print(metric_table(result.summary))
    if result.strata is not None and strata is not None:
        groups = result.strata.groups
        console.print(
            stratum_summaries_table(
                file.name,
                result.strata.stratification.by,
                strata,
                [group.summary for group in groups],
                [group.mean_confidence for group in groups],
            )
        )
