"""The page of a post-hoc calibration: each method's metrics before and after each calibrator, diagrams."""

from __future__ import annotations

from llmcal.metrics.summary import Summary
from llmcal.reports.cells import column_title
from llmcal.reports.figures import figure_png
from llmcal.reports.pages.parts import Part, Section, escape, image, settings_block, table, with_ci
from llmcal.reports.reliability import StratumPanel, strata_figure
from llmcal.runs.kinds import RunOutput
from llmcal.runs.recalibration import CALIBRATION_NAME, MethodRecalibration, RecalibrationResults

__all__ = ["RECALIBRATION_METRICS", "recalibration_sections"]

RECALIBRATION_METRICS = ("accuracy", "ece", "smooth_ece", "top_brier", "auroc", "aurc")
"""The metrics of the before/after table; ``calibration.json`` carries every top-label metric.

Accuracy is there as a check: a calibrator changes confidences, never the answer, so it must not move.
"""


def recalibration_sections(output: RunOutput, heading: str) -> list[Part]:
    """A calibration's one section."""
    results: RecalibrationResults = output.run
    parts = [
        _intro(results, str(output.path / CALIBRATION_NAME)),
        "<h3>Before and after each calibrator</h3>",
        _before_after_table(results),
        "<h3>Reliability diagrams before and after</h3>",
        f'<div class="figures">{"".join(_figure(entry, results) for entry in results.methods)}</div>',
        "<h3>Settings</h3>",
        settings_block(
            {
                **results.settings.to_dict(),
                "fit_run": results.fit_run.path,
                "apply_to": None if results.apply_to is None else results.apply_to.path,
            }
        ),
    ]
    return [Section(heading, "\n".join(parts))]


def _intro(results: RecalibrationResults, file: str) -> str:
    """What was fitted on, what it was measured on, and what was left out."""
    settings = results.settings
    fit_run = results.fit_run
    fitted = (
        f"Each calibrator was fitted, per task and confidence method, on {100 * settings.fit_share:.1f}% "
        f"of the items of <code>{escape(fit_run.path)}</code> (model <code>{escape(fit_run.model)}</code>; "
        f"the split by a hash of seed {settings.seed}, task and item id, the same for every method)"
    )
    if results.apply_to is None:
        measured = "and measured on the rest of its items"
    else:
        left_out = "; ".join(f"{task}: {count}" for task, count in results.left_out.items())
        measured = (
            f"and measured on <code>{escape(results.apply_to.path)}</code> (model "
            f"<code>{escape(results.apply_to.model)}</code>), leaving out its items whose ids were fitted on "
            f"({escape(left_out)})"
        )
    level = round(100 * settings.metrics.level)
    return (
        f"<p>{fitted}, {measured}. Every value is on the measured items, with its {level}% bootstrap "
        "interval; accuracy must not move (a calibrator changes confidences, not answers). Every top-label "
        f"metric and each fitted calibrator are in <code>{escape(file)}</code>.</p>"
    )


def _before_after_table(results: RecalibrationResults) -> str:
    """One row before and one per calibrator, for each task x method."""
    rows = []
    for entry in results.methods:
        counts = [escape(entry.n_fit), escape(entry.n_eval)]
        rows.append(
            [escape(entry.task), escape(entry.method), "<em>before</em>", *counts]
            + [with_ci(entry.before.metric(name)) for name in RECALIBRATION_METRICS]
        )
        rows += [
            [escape(entry.task), escape(entry.method), escape(calibrated.calibrator), *counts]
            + [with_ci(calibrated.after.metric(name)) for name in RECALIBRATION_METRICS]
            for calibrated in entry.calibrated
        ]
    header = ["task", "method", "calibrator", "n fit", "n eval", *map(column_title, RECALIBRATION_METRICS)]
    return table(header, rows, text_columns=3)


def _figure(entry: MethodRecalibration, results: RecalibrationResults) -> str:
    """The task x method's reliability diagram before, beside one per calibrator, on the measured items."""
    summaries = [("before", entry.before)] + [(item.calibrator, item.after) for item in entry.calibrated]
    panels = [
        StratumPanel(label, summary.reliability, _ece(summary))
        for label, summary in summaries
        if summary.reliability is not None
    ]
    if not panels:
        return ""
    level = results.settings.metrics.level
    figure = strata_figure(panels, title=f"{entry.task} / {entry.method}", interval_level=level)
    best = entry.best().calibrator
    return image(
        figure_png(figure),
        f"reliability diagrams before and after calibration {entry.task} {entry.method}",
        f"{entry.task} / {entry.method}: accuracy per confidence bin on the {entry.n_eval} measured items, "
        f"before and after each calibrator (lowest ECE after: {best}); whiskers = {round(100 * level)}% "
        "Wilson interval",
    )


def _ece(summary: Summary) -> float | None:
    """A summary's ECE, for a panel's title; ``None`` where it was not computed."""
    metric = summary.metric("ece")
    return None if metric is None else metric.value
