"""``llmcal compare BASE ALIGNED [BASE ALIGNED ...]``: how calibration changes from base to aligned models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llmcal.cli.option_values import comma_list, strategy_option
from llmcal.cli.progress import step_progress
from llmcal.errors import InputError

__all__ = ["compare"]


def compare(
    runs: Annotated[
        list[Path],
        typer.Argument(help="`llmcal eval` output directories in pairs: BASE ALIGNED [BASE ALIGNED ...]."),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Write comparison.json, comparison.md and comparison.png here.")
    ] = None,
    names: Annotated[
        str | None, typer.Option(help="Comma-separated pair names (default: the aligned directories' names).")
    ] = None,
    metrics: Annotated[
        str | None, typer.Option(help="Comma-separated metrics (default: accuracy and every metric).")
    ] = None,
    n_bins: Annotated[int, typer.Option(min=1, help="Bins for the binned metrics.")] = 15,
    strategy: Annotated[str, typer.Option(help="Top-label binning: uniform | quantile.")] = "uniform",
    n_resamples: Annotated[int, typer.Option(min=1, help="Paired bootstrap resamples per change.")] = 1000,
    level: Annotated[float, typer.Option(min=0.5, max=0.999, help="Interval coverage.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Compare base and aligned evaluations: change and change rate of every metric, with paired CIs."""
    from llmcal.evaluation import read_run
    from llmcal.metrics import METRICS
    from llmcal.reports.comparison import (
        HEADLINE_METRICS,
        ComparisonSettings,
        change_cells,
        change_columns,
        compare_runs,
        rank_by_change_rate,
        write_comparison,
    )

    if len(runs) % 2:
        raise InputError(
            f"compare takes directories in pairs (BASE ALIGNED ...); got {len(runs)}: "
            f"{' '.join(str(run) for run in runs)}."
        )
    binning = strategy_option(strategy)
    loaded = [read_run(run) for run in runs]
    pairs = list(zip(loaded[::2], loaded[1::2], strict=True))
    pair_names = _pair_names(names, [aligned.path.name for _, aligned in pairs])
    metric_names = comma_list(metrics) if metrics else ["accuracy", *METRICS.names()]
    settings = ComparisonSettings(
        n_bins=n_bins,
        strategy=binning,
        n_resamples=n_resamples,
        level=level,
        seed=seed,
    )
    steps = sum(
        len(base.records) * len(set(base.methods) & set(aligned.methods)) * len(metric_names)
        for base, aligned in pairs
    )
    err = Console(stderr=True)
    changes = []
    with step_progress(err) as progress:
        bar = progress.add_task("bootstrapping changes", total=steps)
        for name, (base, aligned) in zip(pair_names, pairs, strict=True):
            changes += compare_runs(
                base, aligned, pair=name, metrics=metric_names, settings=settings,
                on_step=lambda step: progress.update(bar, advance=1, description=step),
            )  # fmt: skip
    changes = rank_by_change_rate(changes)

    if out is not None:
        named = [(name, base, aligned) for name, (base, aligned) in zip(pair_names, pairs, strict=True)]
        write_comparison(out, changes, settings, named, plotted=_headline(metric_names, HEADLINE_METRICS))

    console = Console()
    shown = _headline(metric_names, HEADLINE_METRICS)
    for name in pair_names:
        table = Table(title=f"{name}: aligned − base" if name else "aligned − base")
        ranked = len(pairs) > 1
        for column in change_columns(level, ranked=ranked):
            table.add_column(column, justify="left" if column in ("task", "method", "metric") else "right")
        for item in changes:
            if item.pair == name and item.metric in shown:
                table.add_row(*change_cells(item, ranked=ranked))
        console.print(table)
    if out is not None:
        console.print(f"wrote {out}/comparison.json, comparison.md and comparison.png")


def _pair_names(names: str | None, defaults: list[str]) -> list[str]:
    if names is None:
        # Default names must tell the pairs apart; repeated directory names get the pair's number.
        return [f"{name} ({i})" if defaults.count(name) > 1 else name for i, name in enumerate(defaults, 1)]
    given = [name.strip() for name in names.split(",")]
    if len(given) != len(defaults) or len(set(given)) != len(given) or not all(given):
        raise InputError(
            f"--names must give {len(defaults)} distinct, non-empty names (one per pair); got {names!r}."
        )
    return given


def _headline(metric_names: list[str], headline: tuple[str, ...]) -> list[str]:
    """The metrics the terminal table and the plot show: the headline ones asked for, else the first three."""
    return [name for name in metric_names if name in headline] or metric_names[:3]
