"""The metric options shared by every command that computes metrics: one declaration, one default each.

Defaults come from :class:`~llmcal.metrics.MetricSettings`, so the CLI and the library cannot drift.
"""

from __future__ import annotations

from typing import Annotated

import typer

from llmcal.cli.option_values import BIN_STRATEGY_CHOICES, strategy_option
from llmcal.metrics.settings import MetricSettings
from llmcal.runs.evaluation import Stratification

__all__ = [
    "DEFAULTS",
    "MAX_BINS",
    "MAX_RESAMPLES",
    "MAX_SEED",
    "By",
    "Level",
    "NBins",
    "NResamples",
    "NStrata",
    "Seed",
    "Strategy",
    "metric_settings",
    "stratification_option",
]

DEFAULTS = MetricSettings()

# Upper bounds keep a typo from asking for terabytes: more bins than items, or resamples, say nothing more.
MAX_BINS = 100_000
MAX_RESAMPLES = 1_000_000
MAX_SEED = 2**32 - 1
NBins = Annotated[int, typer.Option(min=1, max=MAX_BINS, help="Bins for the binned metrics.")]
Strategy = Annotated[str, typer.Option(help=f"Top-label binning: {BIN_STRATEGY_CHOICES}.")]
NResamples = Annotated[
    int, typer.Option(min=1, max=MAX_RESAMPLES, help="Bootstrap resamples per metric (or change).")
]
Level = Annotated[float, typer.Option(min=0.5, max=0.999, help="Interval coverage.")]
Seed = Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Bootstrap seed.")]
By = Annotated[
    str | None,
    typer.Option(
        "--by",
        help="Also give every metric per stratum of this item field: subject or a metadata field "
        "(numbers: quantile strata; text: one stratum per value).",
    ),
]
NStrata = Annotated[int, typer.Option("--strata", min=1, help="Quantile strata of a numeric --by field.")]


def metric_settings(n_bins: int, strategy: str, n_resamples: int, level: float, seed: int) -> MetricSettings:
    """The settings the options give, after checking ``--strategy``.

    Raises:
        InputError: If ``strategy`` is not a binning strategy.
    """
    return MetricSettings(n_bins, strategy_option(strategy), n_resamples, level, seed)


def stratification_option(by: str | None, n_strata: int) -> Stratification | None:
    """The stratification ``--by`` and ``--strata`` ask for, or ``None`` without ``--by``.

    Raises:
        InputError: If ``--by`` is empty.
    """
    return None if by is None else Stratification(by, n_strata)
