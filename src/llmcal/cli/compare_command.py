"""``llmcal compare BASE ALIGNED [BASE ALIGNED ...]``: how calibration changes from base to aligned models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llmcal.cli.metric_options import DEFAULTS, Level, NBins, NResamples, Seed, Strategy, metric_settings
from llmcal.cli.option_values import comma_list
from llmcal.cli.out_paths import check_out_dir
from llmcal.cli.progress import step_progress
from llmcal.cli.tables import change_table, uncompared_lines
from llmcal.errors import InputError

if TYPE_CHECKING:
    from llmcal.comparison import RunPair
    from llmcal.metrics.settings import MetricSettings
    from llmcal.runs.comparison import ComparisonResults

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
    n_bins: NBins = DEFAULTS.n_bins,
    strategy: Strategy = DEFAULTS.strategy,
    n_resamples: NResamples = DEFAULTS.n_resamples,
    level: Level = DEFAULTS.level,
    seed: Seed = DEFAULTS.seed,
) -> None:
    """Compare base and aligned evaluations: change and change rate of every metric, with paired CIs.

    \f
    Why it is long: typer reads a command's options from its parameters, one each; the work is in the
    named steps below.
    """  # noqa: D301 (the form feed ends the help text Click shows; what follows is for readers of the code)
    if out is not None:
        check_out_dir(out)
    _check_in_pairs(runs)
    settings = metric_settings(n_bins, strategy, n_resamples, level, seed)
    pairs = _read_pairs(runs, names)
    results = _compare_with_progress(pairs, out, comma_list(metrics) if metrics else None, settings)
    _print_results(results, [name for name, _, _ in pairs], level=level, out=out)


def _check_in_pairs(runs: list[Path]) -> None:
    if len(runs) % 2:
        raise InputError(
            f"compare takes directories in pairs (BASE ALIGNED ...); got {len(runs)}: "
            f"{' '.join(str(run) for run in runs)}."
        )


def _read_pairs(runs: list[Path], names: str | None) -> list[RunPair]:
    """The runs, read and paired (BASE ALIGNED ...), each pair with its name.

    Raises:
        InputError: If a run cannot be read, or ``--names`` does not fit the pairs.
    """
    from llmcal.runs.eval_run import read_eval_run

    loaded = [read_eval_run(run) for run in runs]
    bases, aligned_runs = loaded[::2], loaded[1::2]
    pair_names = _pair_names(names, [aligned.path.name for aligned in aligned_runs])
    return list(zip(pair_names, bases, aligned_runs, strict=True))


def _compare_with_progress(
    pairs: list[RunPair],
    out: Path | None,
    metric_names: list[str] | None,
    settings: MetricSettings,
) -> ComparisonResults:
    """:func:`llmcal.comparison.compare` with a progress bar over its bootstrap steps on stderr."""
    from llmcal.comparison import compare as compare_pairs
    from llmcal.comparison import comparison_steps
    from llmcal.reports.comparison import render_comparison

    with step_progress(Console(stderr=True, markup=False)) as progress:
        bar = progress.add_task("bootstrapping changes", total=comparison_steps(pairs, metric_names))
        return compare_pairs(
            pairs,
            out,
            metrics=metric_names,
            settings=settings,
            render=render_comparison,
            on_step=lambda step: progress.update(bar, advance=1, description=escape(step)),
        )


def _print_results(
    results: ComparisonResults, pair_names: list[str], *, level: float, out: Path | None
) -> None:
    """Each pair's table of headline changes, what could not be compared, and the files written."""
    from llmcal.reports.cells import headline_metrics

    console = Console(markup=False)
    shown = headline_metrics(list(dict.fromkeys(change.metric for change in results.changes)))
    for name in pair_names:
        console.print(
            change_table(
                [item for item in results.changes if item.pair == name and item.metric in shown],
                title=f"{name}: aligned − base" if name else "aligned − base",
                level=level,
                ranked=results.ranked,
            )
        )
        for line in uncompared_lines(results.uncompared, name):
            console.print(line, highlight=False)
    if out is not None:
        plot = " and comparison.png" if results.changes else " (no comparison.png: nothing was compared)"
        console.print(f"wrote {out}/comparison.json, comparison.md{plot}")


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
