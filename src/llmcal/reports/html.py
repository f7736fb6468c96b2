"""One self-contained HTML report from llmcal output directories: tables, diagrams and the exact settings.

Every image is an inline PNG (``data:`` URI) and the styles are inline, so the file opens anywhere with
no network. Figures are drawn on their own Agg canvases and never touch pyplot's global state.

Each directory is read as its kind (:func:`llmcal.runs.read_output`) and drawn by that kind's entry in
:data:`SECTIONS`: a demo (its variant table, the pretrained vs aligned comparison and the evaluations it
ran), a comparison, an evaluation (also an lm-eval import), a fine-tuning or an alignment run.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal import __version__
from llmcal.atomic import figure_png, write_text_atomic
from llmcal.confidence.predictions import answered, method_predictions
from llmcal.errors import InputError
from llmcal.evaluation import item_strata
from llmcal.metrics import reliability_bins
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import MetricValue, predictions_row
from llmcal.reports.cells import (
    AT_TEMPERATURE_BOUND,
    CALIBRATION_COLUMNS,
    HEADLINE_METRICS,
    OPEN_SUMMARY_METRICS,
    STRATUM_METRICS,
    SUMMARY_METRICS,
    calibration_cells,
    change_cells,
    change_columns,
    column_title,
    gib,
    interval,
    number,
    reasons_cell,
    seconds,
    temperature_at_bound,
    temperature_cell,
    uncompared_line,
)
from llmcal.reports.headline import demo_story_figures, real_claims_headline_png
from llmcal.reports.reliability import SPARSE_BIN_ITEMS
from llmcal.runs.comparison import ComparisonResults
from llmcal.runs.demo import DemoResults, DemoRow, RealModelResults
from llmcal.runs.evaluation import EvalResults, EvalRun, TaskResults, TaskStrata
from llmcal.runs.kinds import RUN_KINDS, RunOutput, TrainingRun, read_output
from llmcal.runs.real_claims import RealClaimsResults

__all__ = ["SECTIONS", "report_html", "write_report"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { border-bottom: 2px solid #4C72B0; padding-bottom: .3rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8rem 0 1.2rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th { background: #f3f5f9; }
td.text, th.text { text-align: left; }
tr.section td { border-top: 2px solid #999; }
.ci { color: #777; font-size: .8rem; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
.story figure { margin: 0 0 1.5rem; }
figure { margin: 0; max-width: 100%; }
img { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #555; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .8rem; }
nav li { margin: .15rem 0; }
.up { color: #b23; } .down { color: #274; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, text_columns: int = 1) -> str:
    """An HTML table; cells are already-escaped HTML, the first ``text_columns`` columns left-aligned."""

    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(
            f'<{tag} class="text">{value}</{tag}>' if index < text_columns else f"<{tag}>{value}</{tag}>"
            for index, value in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"


def _image(png: bytes, alt: str, caption: str = "") -> str:
    encoded = base64.b64encode(png).decode("ascii")
    figcaption = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{encoded}" alt="{_e(alt)}">{figcaption}</figure>'


def _settings(data: Any) -> str:
    text = json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    return f"<pre>{html.escape(text, quote=False)}</pre>"  # element text: quotes may stay as they are


def _with_ci(metric: MetricValue | None) -> str:
    if metric is None:
        return ""
    value = number(metric.value)
    if np.isnan(metric.ci_low):
        return value
    return f'{value} <span class="ci">{interval(metric.ci_low, metric.ci_high)}</span>'


def _diagram_pair(predictions: Predictions, title: str, n_bins: int, strategy: str, level: float) -> bytes:
    """Reliability diagram (with interval bands and counts) beside the confidence histogram."""
    from matplotlib.figure import Figure

    from llmcal.reports.reliability import plot_confidence_histogram, plot_reliability

    confidences, correct = predictions.confidences, predictions.correct
    bins = reliability_bins(
        confidences, correct, n_bins=n_bins, strategy="quantile" if strategy == "quantile" else "uniform"
    )
    figure = Figure(figsize=(9.0, 4.6), dpi=90, layout="constrained")
    left, right = figure.subplots(1, 2)
    plot_reliability(bins, left, title=title, interval_level=level)
    what = "predicted option" if predictions.probs is not None else "generated answer"
    plot_confidence_histogram(confidences, correct, right, title=f"confidence of the {what}")
    return figure_png(figure)


def _subject_rows(
    run: EvalRun, task: str, method: str, table: Predictions, kept: NDArray[np.bool_]
) -> list[list[str]]:
    """Per subject, the compact calibration row of ``method``'s predictions ``table`` (the ``kept`` records).

    Each row names its task, method and subject: the three keys that tell the rows of the table apart.
    """
    records = [record for record, keep in zip(run.records[task], kept, strict=True) if keep]
    subjects = sorted({record.subject for record in records if record.subject})
    if len(subjects) < 2:
        return []
    rows = []
    for subject in subjects:
        mask = np.array([record.subject == subject for record in records])
        row = predictions_row(table.subset(mask))
        rows.append([_e(task), _e(method), _e(subject), _e(row.n_items), *calibration_cells(row)])
    return rows


def _strata_rows(task: str, strata: TaskStrata) -> list[list[str]]:
    """Per method x stratum: size, accuracy, mean confidence and the other metrics, with intervals."""
    rows = []
    methods = list(strata.groups[0].methods) if strata.groups else []
    for method in methods:
        for group in strata.groups:
            summary = group.methods[method]
            rows.append(
                [
                    _e(task),
                    _e(method),
                    _e(group.label),
                    _e(group.n_items),
                    _with_ci(summary.metric("accuracy")),
                ]
                + [number(group.mean_confidence[method])]
                + [_with_ci(summary.metric(name)) for name in _STRATUM_HTML_METRICS]
            )
    return rows


_STRATA_KINDS = {
    "quantile": "up to {n_strata} quantile strata of about equal size (tied values kept together), each "
    "labelled by the smallest and largest value it holds",
    "categorical": "one stratum per value",
}
# The per-stratum table: the terminal's metrics, then the summary table's others.
_STRATUM_HTML_METRICS = tuple(
    dict.fromkeys(name for name in (*STRATUM_METRICS, *SUMMARY_METRICS) if name != "accuracy")
)


def _strata_figures(run: EvalRun, task: str, strata: TaskStrata, settings: MetricSettings) -> list[str]:
    """One small-multiples figure per method: a reliability diagram per stratum, from the records.

    The strata are recomputed from the records with the stratification in ``results.json``; if they no
    longer match its groups (results written by an llmcal that cut strata differently), no figure is drawn.
    """
    from llmcal.reports.reliability import StratumPanel, strata_figure

    records = run.records[task]
    assigned = item_strata(records, strata.stratification, task=task)
    if [stratum.label for stratum in assigned.strata] != [group.label for group in strata.groups]:
        return []
    figures = []
    by = strata.stratification.by
    for method in strata.groups[0].methods if strata.groups else ():
        if method not in run.methods:
            continue
        kept = answered(records, method)
        table = method_predictions(records, method, f"{task}/{method}", kept)
        confidences, correct = table.confidences, table.correct
        panels, empty = [], []
        for position, group in enumerate(strata.groups):
            rows = assigned.rows(position)[kept]
            if not rows.any():  # no item of the stratum has a confidence by this method: no panel
                empty.append(group.label)
                continue
            bins = reliability_bins(
                confidences[rows], correct[rows], n_bins=settings.n_bins, strategy=settings.strategy
            )
            ece = group.methods[method].metric("ece")
            panels.append(StratumPanel(group.label, bins, None if ece is None else ece.value))
        if not panels:
            continue  # the method has no confidence at all: said beside the method's diagrams
        figure = strata_figure(panels, title=f"{task} / {method} by {by}", interval_level=settings.level)
        png = figure_png(figure)
        left_out = ""
        if empty:  # strata whose items this method gave no confidence: said, not silently missing
            which = f"{'stratum' if len(empty) == 1 else 'strata'} {', '.join(empty)}"
            left_out = f"; no confidence in {which}, left out"
        figures.append(
            _image(
                png,
                f"reliability diagram per {by} stratum, {task} {method}",
                f"{task} / {method}: one reliability diagram per {by} stratum (n items, ECE in each title)"
                + left_out,
            )
        )
    return figures


def _strata_part(run: EvalRun, results: EvalResults) -> list[str]:
    """The per-stratum table and figures of stratified results; nothing for unstratified ones."""
    stratification = results.stratification
    if stratification is None:
        return []
    settings = results.settings.metrics
    rows, figures = [], []
    for task, entry in results.tasks.items():
        if entry.strata is None:
            continue
        rows += _strata_rows(task, entry.strata)
        if task in run.records:
            figures += _strata_figures(run, task, entry.strata, settings)
    by = stratification.by
    header = [
        "task",
        "method",
        _e(by),
        "n",
        "accuracy",
        "mean confidence",
        *_column_names(_STRATUM_HTML_METRICS),
    ]
    kinds = sorted({entry.strata.kind for entry in results.tasks.values() if entry.strata is not None})
    how = " or ".join(_STRATA_KINDS[kind].format(n_strata=stratification.n_strata) for kind in kinds)
    parts = [
        f"<h3>Calibration by {_e(by)}</h3>",
        f"<p>Items grouped by <code>{_e(by)}</code>: {how}. Every metric is computed on each stratum's "
        "items alone, with its own bootstrap interval.</p>",
        _table(header, rows, text_columns=3),
    ]
    if figures:
        parts += [
            f"<h3>Reliability diagrams by {_e(by)}</h3>",
            f'<div class="figures">{"".join(figures)}</div>',
        ]
    return parts


def _eval_section(run: EvalRun, heading: str) -> tuple[str, str]:
    results = run.results()
    metric_settings = results.settings.metrics
    level = metric_settings.level
    summary_rows, figures, subject_rows, no_figures = [], [], [], []
    metrics = OPEN_SUMMARY_METRICS if run.is_open_ended else SUMMARY_METRICS
    for task, entry in results.tasks.items():
        for method, summary in entry.methods.items():
            summary_rows.append(
                [_e(task), _e(method), _e(summary.n_items)]
                + [_with_ci(summary.metric(name)) for name in metrics]
            )
            if task in run.records and method in run.methods:
                kept = answered(run.records[task], method)
                if not kept.any():  # e.g. verbal, where the model never wrote a readable probability
                    no_figures.append(_no_confidence_note(task, entry, method))
                    continue
                table = method_predictions(run.records[task], method, f"{task}/{method}", kept)
                png = _diagram_pair(
                    table,
                    f"{task} / {method}",
                    metric_settings.n_bins,
                    metric_settings.strategy,
                    level,
                )
                figures.append(
                    _image(
                        png,
                        f"reliability diagram {task} {method}",
                        f"{task} / {method}: bars = accuracy per confidence bin (count at the foot; "
                        f"pale and hatched: fewer than {SPARSE_BIN_ITEMS} items), whiskers = "
                        f"{round(100 * level)}% Wilson interval; right: confidences of right and "
                        "wrong answers",
                    )
                )
                subject_rows += _subject_rows(run, task, method, table, kept)
    stratification = results.stratification
    if stratification is not None and stratification.by == "subject":
        subject_rows = []  # the per-stratum table below has the same rows, with intervals
    parts = [
        f"<p>Model: <code>{_e(run.model)}</code>; methods {_e(', '.join(run.methods))}; "
        f"{round(100 * level)}% bootstrap intervals (percentile, re-centred on the value) in brackets.</p>",
        "<h3>Summary</h3>",
        _table(["task", "method", "n", *_column_names(metrics)], summary_rows, text_columns=2),
        *_answers_part(results),
        "<h3>Reliability diagrams and confidence histograms</h3>",
        f'<div class="figures">{"".join(figures)}</div>',
        *no_figures,
        *_strata_part(run, results),
    ]
    if subject_rows:
        header = ["task", "method", "subject", "n", *_column_names(CALIBRATION_COLUMNS)]
        parts += ["<h3>Per-subject breakdown</h3>", _table(header, subject_rows, text_columns=3)]
    parts += ["<h3>Settings</h3>", _settings(run.manifest)]
    return heading, "\n".join(parts)


def _no_confidence_note(task: str, entry: TaskResults, method: str) -> str:
    """Why a task x method has no diagram: none of its items has a confidence, with the reasons."""
    problems = entry.answers.problems.get(method, {}) if entry.answers is not None else {}
    what = "answers" if entry.answers is not None else "items"
    why = f" ({reasons_cell(problems)})" if problems else ""
    return (
        f"<p>No diagram for {_e(task)} / {_e(method)}: none of its {entry.n_items} {what} has a "
        f"confidence{_e(why)}.</p>"
    )


def _answers_part(results: EvalResults) -> list[str]:
    """Open-ended tasks: exact match and token F1 of the answers, and the answers without a confidence."""
    lines = []
    for task, entry in results.tasks.items():
        stats = entry.answers
        if stats is None:
            continue
        missing = [
            _missing_confidences(method, count, entry.n_items, stats.problems.get(method, {}))
            for method, count in stats.no_confidence.items()
            if count
        ]
        lines.append(
            f"<li><b>{_e(task)}</b>: exact match {number(stats.exact_match)}, token F1 "
            f"{number(stats.token_f1)} over {entry.n_items} generated answers"
            + ("; " + "; ".join(missing) if missing else "")
            + ".</li>"
        )
    if not lines:
        return []
    return [
        "<p>Answers are right when they match an accepted answer after SQuAD-style normalisation; n is "
        "the number of answers a method gave a confidence. The <code>p-true</code> and <code>verbal</code> "
        "prompts are zero-shot, whatever the answer prompt's number of examples: they show the question and "
        "the model's answer alone.</p>",
        f"<ul>{''.join(lines)}</ul>",
    ]


def _missing_confidences(method: str, count: int, n_items: int, problems: dict[str, int]) -> str:
    """How many answers ``method`` gave no confidence, and why; all of them leave it without metrics."""
    reasons = _e(reasons_cell(problems))
    if count >= n_items:
        return (
            f"<code>{_e(method)}</code> gave none of the {n_items} answers a confidence ({reasons}): "
            "it has no metrics and no diagram"
        )
    return f"<code>{_e(method)}</code> gave {count} no confidence ({reasons}), left out of its metrics"


def _column_names(columns: Sequence[str]) -> list[str]:
    return [column_title(column) for column in columns]


def _signed_cell(text: str) -> str:
    """A signed change, coloured by its sign (up is red: errors growing is the usual bad news)."""
    css = "up" if text.startswith("+") and text.strip("+0.") else "down" if text.startswith("-") else ""
    return f'<span class="{css}">{_e(text)}</span>'


def _comparison_section(path: Path, results: ComparisonResults, heading: str) -> tuple[str, str]:
    settings = results.settings
    ranked = results.ranked
    header = ["pair", *change_columns(settings.level, ranked=ranked)]
    rows = []
    for change in results.changes:
        if change.metric not in HEADLINE_METRICS:
            continue
        text = change_cells(change, ranked=ranked)
        delta, interval_text = text[5], text[6]
        cells = [_e(cell) for cell in text]
        cells[5], cells[6] = _signed_cell(delta), f'<span class="ci">{_e(interval_text)}</span>'
        rows.append([_e(change.pair), *cells])
    parts = [
        "<p>delta = aligned − base with a paired bootstrap interval (items resampled once for both runs); "
        "CR = delta / base (Oh &amp; Hwang's change rate). Every metric is in "
        f"<code>{_e(path / 'comparison.json')}</code> and <code>comparison.md</code>.</p>",
        _table(header, rows, text_columns=4),
    ]
    if results.uncompared:
        items = "".join(
            f"<li>{_e(f'{item.pair}: ' if item.pair else '')}{_e(uncompared_line(item))}</li>"
            for item in results.uncompared
        )
        parts.append(
            "<p>Not compared: no item has a confidence by these methods in both runs of the pair.</p>"
            f"<ul>{items}</ul>"
        )
    plot = path / "comparison.png"
    if plot.is_file():
        parts.append(
            _image(plot.read_bytes(), "change of each metric with its interval", "Δ per task / method")
        )
    pairs = [asdict(pair) for pair in results.pairs]
    parts += ["<h3>Settings</h3>", _settings({"settings": asdict(settings), "pairs": pairs})]
    return heading, "\n".join(parts)


def _training_section(run: TrainingRun, heading: str) -> tuple[str, str]:
    results = run.results
    parts = []
    if results.before is not None and results.after is not None:
        before, after = asdict(results.before), asdict(results.after)
        rows = [
            [stage, _e(row.n_items), *calibration_cells(row)]
            for stage, row in (("before", results.before), ("after", results.after))
        ]
        rows.append(
            ["change", ""]
            + [_signed_cell(number(after[key] - before[key], signed=True)) for key in CALIBRATION_COLUMNS]
        )
        parts += ["<h3>Before and after</h3>", _table(["", "n", *_column_names(CALIBRATION_COLUMNS)], rows)]
    if results.log:
        keys = [key for key in results.log[0] if key != "epoch"]
        rows = [
            [number(entry.get("epoch"))] + [number(entry.get(key)) for key in keys] for entry in results.log
        ]
        parts += ["<h3>Training log</h3>", _table(["epoch", *(_e(key) for key in keys)], rows)]
    parts += ["<h3>Settings</h3>", _settings(results.settings)]
    return heading, "\n".join(parts)


def _demo_rows_table(rows: Sequence[DemoRow], group: str) -> str:
    cells = [
        [
            _e(row.variant),
            _e(row.group),
            _e(row.calibration.n_items),
            *calibration_cells(row.calibration),
        ]
        for row in rows
    ]
    return _table(["variant", group, "n", *_column_names(CALIBRATION_COLUMNS)], cells, text_columns=2)


def _demo_sections(path: Path, demo: DemoResults) -> list[tuple[str, str]]:
    """The story in figures first (variants, pretrained vs aligned, the real model), then every table."""
    world = demo.world
    story = "".join(_image(figure.png, figure.alt, figure.caption) for figure in demo_story_figures(demo))
    facts = (
        f"<p>World preset <code>{_e(demo.preset)}</code>, seed {_e(demo.seed)}: the pretrained "
        f"model recalls {number(world.get('recall_known'))} of the facts it read and "
        f"{number(world.get('recall_unknown'))} of the others "
        f"(chance {number(world.get('recall_chance'))}). "
        f"Temperature fitted on the calibration people: T = {number(demo.temperature)}.</p>"
    )
    sections = [
        (f"Demo: {path}", facts + f'<div class="story">{story}</div>'),
        (
            "Knowledge world: calibration per variant on the test people",
            "<p>known = people whose facts were in pretraining.</p>" + _demo_rows_table(demo.rows, "people"),
        ),
    ]
    if demo.real_model is not None:
        sections.append(_real_model_section(demo.real_model))
    if (path / "comparison" / "comparison.json").is_file():
        sections += _sections(read_output(path / "comparison"), "Demo: pretrained vs aligned (DPO)")
    runs = [
        ("pretrained-test", "pretrained model on the test people"),
        ("aligned-test", "aligned model on the test people"),
    ]
    if demo.real_model is not None:
        runs.append(("real-model/test", f"{demo.real_model.model} on the test fact questions"))
    for name, label in runs:
        if (path / name / "run.json").is_file():
            sections += _sections(read_output(path / name), f"Demo evaluation: {label}")
    return sections


def _real_model_section(real: RealModelResults) -> tuple[str, str]:
    gguf = real.source.get("gguf", {})
    source = (
        f" (GGUF {_e(Path(gguf['file']).name)}, {_e(gguf['quantization'])}, de-quantized to float32)"
        if gguf
        else ""
    )
    temperatures = ", ".join(
        f"{_e(method)} {_e(temperature_cell(value))}" for method, value in real.temperatures.items()
    )
    if any(map(temperature_at_bound, real.temperatures.values())):
        temperatures += f" ({_e(AT_TEMPERATURE_BOUND)})"
    intro = (
        f"<p><code>{_e(real.model)}</code>{source} on {real.n_test} questions of the built-in "
        f"<code>{_e(real.task)}</code> task (real countries and cities, see docs/facts.md), every "
        f"confidence method; one temperature per method fitted on {real.n_calibration} held-out "
        f"questions: {temperatures}.</p>"
    )
    every = [row for row in real.rows if row.group == "all"]
    strata = [row for row in real.rows if row.group != "all"]
    return (
        f"Real model: {real.model} on real facts, by {real.by}",
        intro
        + "<h3>All test questions</h3>"
        + _demo_rows_table(every, "questions")
        + f"<h3>By {_e(real.by)} of the place asked about (rarest first)</h3>"
        + _demo_rows_table(strata, real.by),
    )


def _real_claims_sections(path: Path, results: RealClaimsResults) -> list[tuple[str, str]]:
    """``llmcal demo --real``: the headline figure, each claim's table, the costs, then the runs it made."""
    sections = [
        (
            f"The papers' claims on real LLMs: {path}",
            _image(
                real_claims_headline_png(results),
                "the claims in one figure",
                "ECE on held-out fact questions: each fine-tuning variant on items the model knew and did "
                "not know before (CogCalib); each confidence method before and after DPO (Oh & Hwang); the "
                "base, aligned and restored models (Xiao et al.).",
            ),
        )
    ]
    prevention, alignment = results.prevention, results.alignment
    if prevention is not None:
        detector = prevention.detector
        text = (
            f"<p><code>{_e(prevention.model)}</code>, LoRA fine-tuning with each loss at "
            "<code>llmcal finetune</code>'s default strength, method <code>sum</code>. Known = answered "
            "right before fine-tuning. CogCalib's NLL detector, its threshold fitted on the calibration "
            f"items, on the {detector.n_known + detector.n_unknown} test items: accuracy "
            f"{number(detector.accuracy)}, TPR {number(detector.tpr)}, TNR {number(detector.tnr)}.</p>"
        )
        sections.append(
            (
                "Claim 1 (CogCalib): fine-tuning losses, known vs unknown items",
                text + _demo_rows_table(prevention.rows, "items") + _settings(prevention.settings),
            )
        )
    if alignment is not None:
        text = (
            f"<p><code>{_e(alignment.model)}</code> aligned with DPO (LoRA) on "
            f"{_e(alignment.settings.get('n_pairs'))} preference pairs from fact items, then fine-tuned "
            "with CFT and RCFT (LoRA) on the same items. Known = the base model answered it right.</p>"
        )
        sections.append(
            (
                "Claims 2 and 3: DPO of a base model, then CFT and RCFT",
                text + _demo_rows_table(alignment.rows, "items") + _settings(alignment.settings),
            )
        )
        if (path / "alignment" / "comparison" / "comparison.json").is_file():
            sections += _sections(
                read_output(path / "alignment" / "comparison"), "Claim 2: base vs aligned, every method"
            )
    costs = [[_e(step.step), seconds(step.seconds), gib(step.peak_rss_gib)] for step in results.steps]
    sections.append(
        ("What each step cost", _table(["step", "seconds", "peak resident memory so far (GiB)"], costs))
    )
    for name, label in (("base-test", "base model"), ("aligned-test", "aligned model")):
        if (path / "alignment" / name / "run.json").is_file():
            sections += _sections(read_output(path / "alignment" / name), f"Evaluation: the {label}")
    return sections


# How each kind of run directory (:data:`llmcal.runs.RUN_KINDS`) is drawn: its sections, given a heading.
SECTIONS: dict[str, Callable[[RunOutput, str], list[tuple[str, str]]]] = {
    "demo": lambda output, heading: _demo_sections(output.path, output.run),
    "real-claims": lambda output, heading: _real_claims_sections(output.path, output.run),
    "comparison": lambda output, heading: [_comparison_section(output.path, output.run, heading)],
    "eval": lambda output, heading: [_eval_section(output.run, heading)],
    "finetune": lambda output, heading: [_training_section(output.run, heading)],
    "align": lambda output, heading: [_training_section(output.run, heading)],
}


def _sections(output: RunOutput, heading: str | None = None) -> list[tuple[str, str]]:
    title = RUN_KINDS.get(output.kind).title
    return SECTIONS[output.kind](output, heading or f"{title}: {output.path}")


def report_html(paths: Sequence[str | Path], *, title: str = "llmcal report") -> str:
    """The HTML of a report over ``paths`` (llmcal output directories), one section per run.

    Raises:
        InputError: If no path is given or one is not a recognised, complete llmcal output directory.
    """
    if not paths:
        raise InputError("No directories to report on.")
    sections = []
    for path in paths:
        sections += _sections(read_output(path))
    anchors = [f"section-{index}" for index in range(len(sections))]
    contents = "".join(
        f'<li><a href="#{anchor}">{_e(heading)}</a></li>'
        for anchor, (heading, _) in zip(anchors, sections, strict=True)
    )
    body = "\n".join(
        f'<section id="{anchor}"><h2>{_e(heading)}</h2>\n{content}</section>'
        for anchor, (heading, content) in zip(anchors, sections, strict=True)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{_e(title)}</h1>\n<nav><ul>{contents}</ul></nav>\n{body}\n"
        f'<footer><p class="ci">llmcal {_e(__version__)}</p></footer>\n</body>\n</html>\n'
    )


def write_report(paths: Sequence[str | Path], out: str | Path, *, title: str = "llmcal report") -> Path:
    """Writes :func:`report_html` to ``out`` atomically and returns the path."""
    target = Path(out)
    write_text_atomic(target, report_html(paths, title=title))
    return target
