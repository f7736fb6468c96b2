"""The page of an evaluation (also an lm-eval import): summary, figures, strata, subjects and settings."""

from __future__ import annotations

from typing import NamedTuple

from llmcal.reports.cells import (
    CALIBRATION_COLUMNS,
    OPEN_SUMMARY_METRICS,
    SUMMARY_METRICS,
    calibration_cells,
    reasons_cell,
)
from llmcal.reports.pages.answers import answers_part
from llmcal.reports.pages.parts import (
    Part,
    Section,
    column_names,
    escape,
    image,
    settings_block,
    table,
    with_ci,
)
from llmcal.reports.pages.strata import strata_part
from llmcal.reports.reliability import SPARSE_BIN_ITEMS, diagram_pair_png
from llmcal.reports.risk_coverage import MethodRiskCoverage, risk_coverage_png
from llmcal.runs.eval_run import EvalRun
from llmcal.runs.evaluation import EvalResults, TaskResults
from llmcal.runs.kinds import RunOutput

__all__ = ["eval_sections"]


def eval_sections(output: RunOutput, heading: str) -> list[Part]:
    """An evaluation's one section."""
    return [Section(heading, _eval_content(output.run))]


class _MethodParts(NamedTuple):
    """The figures and rows of an evaluation's records, in the results' order.

    Per task x method: its diagram pair, or why it has none, and its per-subject rows; per task: one
    risk-coverage figure of its methods that gave a confidence.
    """

    figures: list[str]
    no_figures: list[str]
    subject_rows: list[list[str]]
    risk_coverage: list[str]


def _eval_content(run: EvalRun) -> str:
    results = run.results()
    level = results.settings.metrics.level
    metrics = OPEN_SUMMARY_METRICS if run.is_open_ended else SUMMARY_METRICS
    summary_rows = [
        [escape(task), escape(method), escape(summary.n_items)]
        + [with_ci(summary.metric(name)) for name in metrics]
        for task, entry in results.tasks.items()
        for method, summary in entry.methods.items()
    ]
    figures, no_figures, subject_rows, risk_coverage = _method_parts(run, results)
    stratification = results.stratification
    if stratification is not None and stratification.by == "subject":
        subject_rows = []  # the per-stratum table below has the same rows, with intervals
    parts = [
        f"<p>Model: <code>{escape(run.model)}</code>; methods {escape(', '.join(run.methods))}; "
        f"{round(100 * level)}% bootstrap intervals (percentile, re-centred on the value) in brackets.</p>",
        "<h3>Summary</h3>",
        table(["task", "method", "n", *column_names(metrics)], summary_rows, text_columns=2),
        *answers_part(results),
        "<h3>Reliability diagrams and confidence histograms</h3>",
        f'<div class="figures">{"".join(figures)}</div>',
        *no_figures,
        *_risk_coverage_part(risk_coverage),
        *strata_part(run, results),
    ]
    if subject_rows:
        header = ["task", "method", "subject", "n", *column_names(CALIBRATION_COLUMNS)]
        parts += ["<h3>Per-subject breakdown</h3>", table(header, subject_rows, text_columns=3)]
    parts += ["<h3>Settings</h3>", settings_block(run.manifest)]
    return "\n".join(parts)


def _method_parts(run: EvalRun, results: EvalResults) -> _MethodParts:
    """The diagram pair of each task x method whose records the run holds, and each task's risk curves.

    Both are drawn from the same answered predictions, so a curve covers exactly its diagram's items.
    """
    settings = results.settings.metrics
    parts = _MethodParts([], [], [], [])
    for task, entry in results.tasks.items():
        lines = []
        for method in entry.methods:
            if task not in run.records or method not in run.methods:
                continue
            predictions = run.answered_predictions(task, method)
            if predictions is None:
                parts.no_figures.append(_no_confidence_note(task, entry, method))
                continue
            png = diagram_pair_png(predictions, f"{task} / {method}", settings)
            parts.figures.append(
                image(
                    png,
                    f"reliability diagram {task} {method}",
                    f"{task} / {method}: bars = accuracy per confidence bin (count at the foot; "
                    f"pale and hatched: fewer than {SPARSE_BIN_ITEMS} items), whiskers = "
                    f"{round(100 * settings.level)}% Wilson interval; right: confidences of right and "
                    "wrong answers",
                )
            )
            parts.subject_rows.extend(
                [escape(task), escape(method), escape(subject), escape(row.n_items), *calibration_cells(row)]
                for subject, row in run.subject_rows(task, method).items()
            )
            lines.append(MethodRiskCoverage.of(method, predictions))
        if lines:
            parts.risk_coverage.append(_risk_coverage_figure(task, lines))
    return parts


def _risk_coverage_figure(task: str, lines: list[MethodRiskCoverage]) -> str:
    """The risk-coverage figure of one task; its alt text names the methods drawn, in the legend's order."""
    methods = ", ".join(line.method for line in lines)
    return image(
        risk_coverage_png(lines, f"{task}: risk vs coverage"),
        f"risk-coverage curves {task}: {methods}",
        f"{task}: error rate among the answers kept, most confident first, against the share kept; one "
        "line per method, AURC (area under it, lower is better) in the legend; dashed = random rejection "
        "(the overall error rate), dotted = oracle (every right answer ranked first)",
    )


def _risk_coverage_part(figures: list[str]) -> list[str]:
    """The risk-coverage figures under their heading, beside the reliability diagrams; none, nothing."""
    if not figures:
        return []
    return ["<h3>Risk-coverage curves</h3>", f'<div class="figures">{"".join(figures)}</div>']


def _no_confidence_note(task: str, entry: TaskResults, method: str) -> str:
    """Why a task x method has no diagram: none of its items has a confidence, with the reasons."""
    problems = entry.confidence_problems(method)
    what = "answers" if entry.answers is not None else "items"
    why = f" ({reasons_cell(problems)})" if problems else ""
    return (
        f"<p>No diagram for {escape(task)} / {escape(method)}: none of its {entry.n_items} {what} has a "
        f"confidence{escape(why)}.</p>"
    )
