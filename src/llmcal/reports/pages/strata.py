"""The stratified part of an evaluation's page: a table per method x stratum and a figure per method."""

from __future__ import annotations

from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import MetricValue
from llmcal.reports.cells import STRATUM_METRICS, SUMMARY_METRICS, number
from llmcal.reports.figures import figure_png
from llmcal.reports.pages.parts import column_names, escape, image, table, with_ci
from llmcal.runs.eval_run import EvalRun
from llmcal.runs.evaluation import EvalResults, TaskStrata

__all__ = ["strata_part"]

_STRATA_KINDS = {
    "quantile": "up to {n_strata} quantile strata of about equal size (tied values kept together), each "
    "labelled by the smallest and largest value it holds",
    "categorical": "one stratum per value",
}
# The per-stratum table: the terminal's metrics, then the summary table's others.
_STRATUM_HTML_METRICS = tuple(
    dict.fromkeys(name for name in (*STRATUM_METRICS, *SUMMARY_METRICS) if name != "accuracy")
)


def strata_part(run: EvalRun, results: EvalResults) -> list[str]:
    """The per-stratum table and figures of stratified results; nothing for unstratified ones."""
    stratification = results.stratification
    if stratification is None:
        return []
    rows, figures = [], []
    for task, entry in results.tasks.items():
        if entry.strata is None:
            continue
        rows += _strata_rows(task, entry.strata)
        if task in run.records:
            figures += _strata_figures(run, task, entry.strata, results.settings.metrics)
    by = stratification.by
    header = ["task", "method", escape(by), "n", "accuracy", "mean confidence"]
    how = " or ".join(
        _STRATA_KINDS[kind].format(n_strata=stratification.n_strata) for kind in results.strata_kinds
    )
    parts = [
        f"<h3>Calibration by {escape(by)}</h3>",
        f"<p>Items grouped by <code>{escape(by)}</code>: {how}. Every metric is computed on each stratum's "
        "items alone, with its own bootstrap interval.</p>",
        table([*header, *column_names(_STRATUM_HTML_METRICS)], rows, text_columns=3),
    ]
    if figures:
        parts += [
            f"<h3>Reliability diagrams by {escape(by)}</h3>",
            f'<div class="figures">{"".join(figures)}</div>',
        ]
    return parts


def _strata_rows(task: str, strata: TaskStrata) -> list[list[str]]:
    """Per method x stratum: size, accuracy, mean confidence and the other metrics, with intervals."""
    methods = list(strata.groups[0].methods) if strata.groups else []
    return [
        [escape(task), escape(method), escape(group.label), escape(group.n_items)]
        + [with_ci(group.methods[method].metric("accuracy")), number(group.mean_confidence[method])]
        + [with_ci(group.methods[method].metric(name)) for name in _STRATUM_HTML_METRICS]
        for method in methods
        for group in strata.groups
    ]


def _strata_figures(run: EvalRun, task: str, strata: TaskStrata, settings: MetricSettings) -> list[str]:
    """One small-multiples figure per method: a reliability diagram per stratum, from the records.

    No figure where the records' strata no longer match the results' (see
    :meth:`~llmcal.runs.evaluation.EvalRun.strata_reliability`), nor for a method with no confidence at
    all (said beside the method's diagrams).
    """
    from llmcal.reports.reliability import StratumPanel, strata_figure

    by = strata.stratification.by
    figures = []
    for method, bins in run.strata_reliability(task, strata, settings).items():
        panels = [
            StratumPanel(group.label, stratum_bins, _value(group.methods[method].metric("ece")))
            for group, stratum_bins in zip(strata.groups, bins, strict=True)
            if stratum_bins is not None
        ]
        if not panels:
            continue
        figure = strata_figure(panels, title=f"{task} / {method} by {by}", interval_level=settings.level)
        # Strata whose items this method gave no confidence: said, not silently missing.
        empty = [
            group.label
            for group, stratum_bins in zip(strata.groups, bins, strict=True)
            if stratum_bins is None
        ]
        which = f"{'stratum' if len(empty) == 1 else 'strata'} {', '.join(empty)}"
        left_out = f"; no confidence in {which}, left out" if empty else ""
        figures.append(
            image(
                figure_png(figure),
                f"reliability diagram per {by} stratum, {task} {method}",
                f"{task} / {method}: one reliability diagram per {by} stratum (n items, ECE in each title)"
                + left_out,
            )
        )
    return figures


def _value(metric: MetricValue | None) -> float | None:
    return None if metric is None else metric.value
