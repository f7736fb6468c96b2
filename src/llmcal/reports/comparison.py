"""Base vs aligned: how every metric changes between two evaluations of the same items (Oh & Hwang, 2024).

For each task x confidence method x metric: the two values, the change ``delta = aligned - base`` with a
paired bootstrap interval (items are resampled once and both runs are scored on the same resample, so
the interval reflects the change and not the noise of each run), and the change rate
``CR = delta / base``. When several model pairs are compared, each pair is ranked by CR within its
task x method x metric, descending, as in the authors' tables (rank 1 = the largest relative increase).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.atomic import save_figure_atomic, write_text_atomic
from llmcal.confidence.methods import probabilities
from llmcal.confidence.records import ItemRecord
from llmcal.errors import CalibrationWarning, InputError
from llmcal.evaluation import EvalRun
from llmcal.metrics import METRICS, BinStrategy, bootstrap_ci, top_label_confidence
from llmcal.metrics.comparison import change, change_rate

__all__ = [
    "HEADLINE_METRICS",
    "ComparisonSettings",
    "MetricChange",
    "change_cells",
    "change_columns",
    "compare_runs",
    "comparison_markdown",
    "format_number",
    "format_percent",
    "paired_records",
    "rank_by_change_rate",
    "save_comparison_png",
    "write_comparison",
]

# What the terminal table and the plot show; the JSON and markdown carry every metric.
HEADLINE_METRICS = ("accuracy", "ece", "sce")


@dataclass(frozen=True)
class ComparisonSettings:
    """Binning and bootstrap settings shared by both runs of a comparison."""

    n_bins: int = 15
    strategy: BinStrategy = "uniform"
    n_resamples: int = 1000
    level: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class MetricChange:
    """One metric of one task x method: its value in both runs and the change between them.

    Attributes:
        pair: Name of the model pair.
        task: Task name.
        method: Confidence method.
        metric: ``accuracy`` or a name from :data:`~llmcal.metrics.METRICS`.
        base: Value in the base (e.g. pretrained) run.
        aligned: Value in the aligned run.
        delta: ``aligned - base``.
        delta_low: Lower end of the paired bootstrap interval of ``delta``.
        delta_high: Upper end of that interval.
        change_rate: ``delta / base`` (NaN where ``base`` is 0).
        rank: Rank of this pair by change rate among all pairs (1 = largest), or ``None`` for one pair.
    """

    pair: str
    task: str
    method: str
    metric: str
    base: float
    aligned: float
    delta: float
    delta_low: float
    delta_high: float
    change_rate: float
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN becomes ``None``)."""
        return {
            key: None if isinstance(value, float) and math.isnan(value) else value
            for key, value in asdict(self).items()
        }


def paired_records(base: EvalRun, aligned: EvalRun) -> dict[str, tuple[list[ItemRecord], list[ItemRecord]]]:
    """Per task, the two runs' records of the same items in the same order.

    Raises:
        InputError: If the runs cover different tasks or items, or an item's gold answer or option count
            differs between them (so they are not the same items).
    """
    if set(base.records) != set(aligned.records):
        raise InputError(
            f"{base.path} and {aligned.path} cover different tasks ({sorted(base.records)} vs "
            f"{sorted(aligned.records)}); compare evaluations of the same tasks."
        )
    pairs: dict[str, tuple[list[ItemRecord], list[ItemRecord]]] = {}
    for task, base_records in base.records.items():
        by_id = {record.id: record for record in aligned.records[task]}
        missing = [record.id for record in base_records if record.id not in by_id]
        extra = sorted(set(by_id) - {record.id for record in base_records})
        if missing or extra:
            raise InputError(
                f"task {task!r}: the runs scored different items ({_some(missing)} only in {base.path}; "
                f"{_some(extra)} only in {aligned.path}). Evaluate both models on the same items."
            )
        differing = [
            record.id
            for record in base_records
            if (record.answer, record.n_options) != (by_id[record.id].answer, by_id[record.id].n_options)
        ]
        if differing:
            raise InputError(
                f"task {task!r}: items {_some(differing)} have a different gold answer or number of options "
                f"in {base.path} and {aligned.path}; the runs used different data under the same ids."
            )
        pairs[task] = (base_records, [by_id[record.id] for record in base_records])
    return pairs


def _some(ids: Sequence[str]) -> str:
    if not ids:
        return "none"
    shown = ", ".join(repr(item) for item in ids[:3])
    return shown + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def _delta_of(metric: Callable[..., float], **kwargs: Any) -> Callable[..., float]:
    """``metric`` of the aligned arrays minus ``metric`` of the base arrays, for the paired bootstrap."""

    def delta(*arrays: Any) -> float:
        half = len(arrays) // 2  # the base run's arrays, then the aligned run's, in the same order
        return metric(*arrays[half:], **kwargs) - metric(*arrays[:half], **kwargs)

    return delta


def _accuracy(_: Any, correct: NDArray[np.float64]) -> float:
    return float(np.mean(correct))


def compare_runs(
    base: EvalRun,
    aligned: EvalRun,
    *,
    pair: str = "",
    metrics: Sequence[str] | None = None,
    settings: ComparisonSettings = ComparisonSettings(),
    on_step: Callable[[str], None] | None = None,
) -> list[MetricChange]:
    """Every metric's change from ``base`` to ``aligned`` per task x method the two runs share.

    Args:
        base: The reference run (e.g. the pretrained model).
        aligned: The run compared to it (e.g. the instruction-tuned model), on the same items.
        pair: Name of this model pair in the output.
        metrics: Metric names (``accuracy`` and :data:`~llmcal.metrics.METRICS` names); default all.
        settings: Binning and bootstrap settings.
        on_step: Called with ``task/method/metric`` after each change is computed (progress bars).

    Raises:
        InputError: If the runs are not on the same items, share no confidence method, or a metric name
            is unknown.
    """
    names = list(metrics) if metrics is not None else ["accuracy", *METRICS.names()]
    for name in names:
        if name != "accuracy":
            METRICS.get(name)  # unknown names fail here, with suggestions
    methods = [method for method in base.methods if method in aligned.methods]
    if not methods:
        raise InputError(
            f"{base.path} (methods {', '.join(base.methods)}) and {aligned.path} (methods "
            f"{', '.join(aligned.methods)}) share no confidence method; evaluate both with one --methods."
        )
    changes: list[MetricChange] = []
    for task, (base_records, aligned_records) in paired_records(base, aligned).items():
        for method in methods:
            base_probs, labels, option_mask = probabilities(base_records, method)
            aligned_probs, _, _ = probabilities(aligned_records, method)
            base_conf, base_correct = top_label_confidence(base_probs, labels)
            aligned_conf, aligned_correct = top_label_confidence(aligned_probs, labels)
            for name in names:
                function, kwargs, by_option = _metric_call(name, settings)
                arrays = (
                    (base_probs, labels, option_mask, aligned_probs, labels, option_mask)
                    if by_option
                    else (base_conf, base_correct, aligned_conf, aligned_correct)
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CalibrationWarning)  # undefined values become NaN
                    half = len(arrays) // 2
                    before = function(*arrays[:half], **kwargs)
                    after = function(*arrays[half:], **kwargs)
                    rate = change_rate(before, after)
                    interval = bootstrap_ci(
                        _delta_of(function, **kwargs),
                        *arrays,
                        n_resamples=settings.n_resamples,
                        level=settings.level,
                        rng=settings.seed,
                    )
                changes.append(
                    MetricChange(pair, task, method, name, before, after, change(before, after),
                                 interval.low, interval.high, rate)
                )  # fmt: skip
                if on_step is not None:
                    on_step(f"{task}/{method}/{name}")
    return changes


def _metric_call(
    name: str, settings: ComparisonSettings
) -> tuple[Callable[..., float], dict[str, Any], bool]:
    """The function, its keyword arguments, and whether it takes option probabilities."""
    if name == "accuracy":
        return _accuracy, {}, False
    spec = METRICS.get(name)
    kwargs: dict[str, Any] = {}
    if spec.binned:
        kwargs["n_bins"] = settings.n_bins
        if spec.inputs == "top_label":
            kwargs["strategy"] = settings.strategy
    return spec.function, kwargs, spec.inputs == "probabilities"


def rank_by_change_rate(changes: Sequence[MetricChange]) -> list[MetricChange]:
    """``changes`` with ``rank`` set: pairs ranked by change rate within each task x method x metric.

    Rank 1 is the largest relative increase; undefined rates rank last. With a single pair the ranks
    stay ``None``.
    """
    groups: dict[tuple[str, str, str], list[int]] = {}
    for index, item in enumerate(changes):
        groups.setdefault((item.task, item.method, item.metric), []).append(index)
    ranked = list(changes)
    for indices in groups.values():
        if len({changes[index].pair for index in indices}) < 2:
            continue
        order = sorted(indices, key=lambda i: (math.isnan(changes[i].change_rate), -_finite(changes[i])))
        for rank, index in enumerate(order, start=1):
            ranked[index] = replace(changes[index], rank=rank)
    return ranked


def _finite(item: MetricChange) -> float:
    return 0.0 if math.isnan(item.change_rate) else item.change_rate


def format_number(value: float, digits: int = 4, *, signed: bool = False) -> str:
    """``value`` to ``digits`` decimals (with its sign if ``signed``), or ``n/a`` for NaN."""
    if math.isnan(value):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def format_percent(value: float) -> str:
    """A rate as a signed percentage, or ``n/a`` for NaN."""
    return "n/a" if math.isnan(value) else f"{100 * value:+.1f}%"


def change_columns(level: float, *, ranked: bool) -> list[str]:
    """Column names of a change table (:func:`change_cells`), for an interval of coverage ``level``."""
    columns = ["task", "method", "metric", "base", "aligned", "delta", f"{round(100 * level)}% CI", "CR"]
    return [*columns, "CR rank"] if ranked else columns


def change_cells(item: MetricChange, *, ranked: bool) -> list[str]:
    """One row of a change table: the values formatted, NaN as ``n/a``, the interval signed like the delta."""
    low, high = format_number(item.delta_low, signed=True), format_number(item.delta_high, signed=True)
    cells = [
        item.task,
        item.method,
        item.metric,
        format_number(item.base),
        format_number(item.aligned),
        format_number(item.delta, signed=True),
        f"[{low}, {high}]",
        format_percent(item.change_rate),
    ]
    return [*cells, "" if item.rank is None else str(item.rank)] if ranked else cells


def comparison_markdown(changes: Sequence[MetricChange], settings: ComparisonSettings) -> str:
    """A markdown report: one table per model pair, rows task x method x metric."""
    level = round(100 * settings.level)
    lines = [
        "# Calibration change: base vs aligned",
        "",
        f"delta = aligned - base, with a {level}% paired bootstrap interval ({settings.n_resamples} "
        f"resamples of the items, seed {settings.seed}); CR = delta / base. Binned metrics use "
        f"{settings.n_bins} {settings.strategy} bins.",
    ]
    ranked = any(item.rank is not None for item in changes)
    for pair in dict.fromkeys(item.pair for item in changes):
        lines += ["", f"## {pair}" if pair else "## comparison", ""]
        header = change_columns(settings.level, ranked=ranked)
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += [
            "| " + " | ".join(change_cells(item, ranked=ranked)) + " |"
            for item in changes
            if item.pair == pair
        ]
    return "\n".join(lines) + "\n"


def save_comparison_png(
    changes: Sequence[MetricChange], path: str | Path, *, metrics: Sequence[str] = HEADLINE_METRICS
) -> None:
    """A forest plot: one panel per metric, each task x method a row, each pair's delta with its interval.

    Drawn on its own Agg figure (no pyplot, no global state) and written atomically.
    """
    from matplotlib.figure import Figure

    shown = [metric for metric in metrics if any(item.metric == metric for item in changes)]
    if not shown:
        raise InputError(f"No comparison rows for the metrics {', '.join(metrics)} to plot.")
    rows = list(dict.fromkeys((item.task, item.method) for item in changes))
    pairs = list(dict.fromkeys(item.pair for item in changes))
    figure = Figure(figsize=(3.6 * len(shown), 1.0 + 0.45 * len(rows) * max(1, len(pairs) / 2)), dpi=110,
                    layout="constrained")  # fmt: skip
    axes = figure.subplots(1, len(shown), sharey=True, squeeze=False)[0]
    offsets = np.linspace(-0.25, 0.25, len(pairs)) if len(pairs) > 1 else np.zeros(1)
    colors = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
    for ax, metric in zip(axes, shown, strict=True):
        ax.axvline(0.0, color="0.5", linewidth=1, linestyle="--")
        for pair_index, pair in enumerate(pairs):
            found = {(i.task, i.method): i for i in changes if i.metric == metric and i.pair == pair}
            ys = [row_index + offsets[pair_index] for row_index, row in enumerate(rows) if row in found]
            selected = [found[row] for row in rows if row in found]
            deltas = np.array([item.delta for item in selected])
            errors = np.array(
                [
                    [item.delta - item.delta_low for item in selected],
                    [item.delta_high - item.delta for item in selected],
                ]
            )
            color = colors[pair_index % len(colors)]
            ax.errorbar(deltas, ys, xerr=np.nan_to_num(errors), fmt="o", color=color, markersize=4, capsize=2,
                        label=pair or None)  # fmt: skip
        ax.set_title(f"Δ {metric} (aligned − base)", fontsize=10)
        ax.grid(axis="x", color="0.9")
    axes[0].set_yticks(range(len(rows)), [f"{task} / {method}" for task, method in rows], fontsize=8)
    axes[0].invert_yaxis()
    if len(pairs) > 1:  # one pair: the title says it all, and a legend would hide points
        axes[-1].legend(fontsize=7, frameon=False, loc="best")
    save_figure_atomic(figure, path)


def write_comparison(
    out_dir: str | Path,
    changes: Sequence[MetricChange],
    settings: ComparisonSettings,
    pairs: Sequence[tuple[str, EvalRun, EvalRun]],
    *,
    plotted: Sequence[str] = HEADLINE_METRICS,
) -> None:
    """Writes ``comparison.json``, ``comparison.md`` and ``comparison.png`` (each atomically) to ``out_dir``.

    Args:
        out_dir: Output directory (created if needed).
        changes: The changes, ranked or not.
        settings: The settings they were computed with.
        pairs: ``(name, base, aligned)`` of every pair, recorded in the JSON.
        plotted: Metrics drawn in the plot.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory.")
    payload = {
        "settings": asdict(settings),
        "pairs": [
            {
                "name": name,
                "base": str(base.path),
                "aligned": str(aligned.path),
                "base_model": base.model,
                "aligned_model": aligned.model,
            }
            for name, base, aligned in pairs
        ],
        "changes": [item.to_dict() for item in changes],
    }
    write_text_atomic(out / "comparison.json", json.dumps(payload, indent=2) + "\n")
    write_text_atomic(out / "comparison.md", comparison_markdown(changes, settings))
    save_comparison_png(changes, out / "comparison.png", metrics=plotted)
