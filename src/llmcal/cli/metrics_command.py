"""``llmcal metrics FILE``: every calibration metric, with bootstrap intervals, for saved predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from llmcal.atomic import write_text_atomic
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
from llmcal.metrics.strata import Strata, stratify, summarize_strata
from llmcal.metrics.summary import Summary, applicable_metrics, summarize
from llmcal.runs.evaluation import Stratification
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
    """Print every calibration metric, with bootstrap intervals, for a file of per-item predictions."""
    if out is not None:
        check_out_file(out, example="metrics.json")
    settings = metric_settings(n_bins, strategy, n_resamples, level, seed)
    if input_kind not in ("probs", "logits"):
        raise InputError(f"--input-kind must be 'probs' or 'logits'; got {input_kind!r}.")
    kind: InputKind = "logits" if input_kind == "logits" else "probs"
    predictions = read_predictions(file, probs_key=probs_key, label_key=label_key, input_kind=kind)
    stratification = stratification_option(by, n_strata)
    strata: Strata | None = None
    if stratification is not None:
        values = read_field(file, stratification.by)
        try:
            strata = stratify(values, n_strata=stratification.n_strata)
        except InputError as error:
            raise InputError(f"{file}, field {stratification.by!r}: {error}") from None

    err = Console(stderr=True, markup=False)
    n_metrics = len(applicable_metrics(predictions))
    with step_progress(err) as progress:
        # One bar over the resamples: every metric is computed on each block of them at once, so the bar
        # moves every few seconds however many items there are (the values on all items come first).
        task = progress.add_task(f"{n_metrics} metrics on all items", total=settings.n_resamples)
        summary = summarize(
            predictions,
            settings,
            on_progress=lambda done, _: progress.update(
                task, completed=done, description=f"{n_metrics} metrics: bootstrap resamples"
            ),
        )

    data = summary.to_dict()
    stratum_table = None
    if strata is not None and stratification is not None:
        with step_progress(err) as progress:
            task = progress.add_task("strata", total=len(strata.strata))
            parts = summarize_strata(
                predictions,
                strata,
                settings,
                on_stratum_done=lambda label: progress.update(task, advance=1, description=escape(label)),
            )
        means = [predictions.subset(strata.rows(index)).mean_confidence for index in range(len(parts))]
        data["strata"] = _strata_json(stratification, strata, parts, means)
        stratum_table = stratum_summaries_table(file.name, stratification.by, strata, parts, means)
    payload = json.dumps(data, indent=2)
    if out is not None:
        write_text_atomic(out, payload + "\n")
    if as_json:
        typer.echo(payload)
    else:
        Console(markup=False).print(metric_table(summary))
        if stratum_table is not None:
            Console(markup=False).print(stratum_table)


def _strata_json(
    stratification: Stratification, strata: Strata, summaries: list[Summary], means: list[float]
) -> dict[str, Any]:
    """The ``strata`` entry of the JSON output: as in ``results.json``, one summary per stratum."""
    groups = []
    for stratum, summary, mean in zip(strata.strata, summaries, means, strict=True):
        bounds = {} if stratum.lower is None else {"lower": stratum.lower, "upper": stratum.upper}
        groups.append({"label": stratum.label, **bounds, "mean_confidence": mean, **summary.to_dict()})
    return {
        "by": stratification.by,
        "n_strata": stratification.n_strata,
        "kind": strata.kind,
        "groups": groups,
    }
