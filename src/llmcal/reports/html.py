"""One self-contained HTML report from llmcal output directories: tables, diagrams and the exact settings.

Every image is an inline PNG (``data:`` URI) and the styles are inline, so the file opens anywhere with
no network. Figures are drawn on their own Agg canvases and never touch pyplot's global state.

Recognised directories (by the file that identifies them):

- ``demo.json``: ``llmcal demo``; its variant table, the pretrained vs aligned comparison and the
  evaluations it ran;
- ``comparison.json``: ``llmcal compare``;
- ``run.json`` (+ ``results.json``): ``llmcal eval`` or ``llmcal from-lm-eval``;
- ``results.json`` with ``before``/``after``: ``llmcal finetune`` or ``llmcal align``.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal import __version__
from llmcal.atomic import figure_png, write_text_atomic
from llmcal.confidence.methods import OptionProbabilities, probabilities
from llmcal.errors import InputError
from llmcal.evaluation import EvalRun, read_run
from llmcal.metrics import reliability_bins, top_label_confidence
from llmcal.reports.comparison import HEADLINE_METRICS
from llmcal.reports.summary import calibration_row

__all__ = ["report_html", "write_report"]

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
figure { margin: 0; max-width: 100%; }
img { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #555; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .8rem; }
nav li { margin: .15rem 0; }
.up { color: #b23; } .down { color: #274; }
"""

_TOP_METRICS = ("accuracy", "ece", "sce", "brier", "smooth_ece", "auroc")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any, digits: int = 3) -> str:
    """A number to ``digits`` decimals; ``n/a`` for None/NaN; anything else escaped as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e(value)
    return f"{value:.{digits}f}"


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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: unreadable JSON ({error}); is the run complete?") from None


def _with_ci(metric: dict[str, Any]) -> str:
    value = _number(metric.get("value"))
    if metric.get("ci_low") is None:
        return value
    return f'{value} <span class="ci">[{_number(metric["ci_low"])}, {_number(metric["ci_high"])}]</span>'


def _diagram_pair(
    probs: NDArray[np.float64], labels: NDArray[np.intp], title: str, n_bins: int, strategy: str, level: float
) -> bytes:
    """Reliability diagram (with interval bands and counts) beside the confidence histogram."""
    from matplotlib.figure import Figure

    from llmcal.reports.reliability import plot_confidence_histogram, plot_reliability

    confidences, correct = top_label_confidence(probs, labels)
    bins = reliability_bins(
        confidences, correct, n_bins=n_bins, strategy="quantile" if strategy == "quantile" else "uniform"
    )
    figure = Figure(figsize=(9.0, 4.0), dpi=90, layout="constrained")
    left, right = figure.subplots(1, 2)
    plot_reliability(bins, left, title=title, interval_level=level)
    plot_confidence_histogram(confidences, correct, right, title="confidence of the predicted option")
    return figure_png(figure)


def _subject_rows(run: EvalRun, task: str, table: OptionProbabilities) -> list[list[str]]:
    records = run.records[task]
    subjects = sorted({record.subject for record in records if record.subject})
    if len(subjects) < 2:
        return []
    rows = []
    for subject in subjects:
        mask = np.array([record.subject == subject for record in records])
        row = calibration_row(*table.subset(mask))
        rows.append(
            [_e(task), _e(subject), str(row["n_items"])]
            + [_number(row[key]) for key in ("accuracy", "ece", "sce", "brier", "mean_confidence")]
        )
    return rows


def _eval_section(path: Path, heading: str) -> tuple[str, str]:
    run = read_run(path)
    results_path = path / "results.json"
    if not results_path.is_file():
        raise InputError(f"{path}: no results.json; rerun `llmcal eval` with this --out to finish the run.")
    results = _read_json(results_path)
    settings = results.get("settings", {})
    n_bins = int(settings.get("n_bins", 15))
    level = float(settings.get("level", 0.95))
    strategy = str(settings.get("strategy", "uniform"))
    summary_rows, figures, subject_rows = [], [], []
    for task, entry in results["tasks"].items():
        for method, summary in entry["methods"].items():
            metrics = summary["metrics"]
            summary_rows.append(
                [_e(task), _e(method), _e(entry["n_items"])]
                + [_with_ci(metrics[name]) if name in metrics else "" for name in _TOP_METRICS]
            )
            if task in run.records and method in run.methods:
                table = probabilities(run.records[task], method)
                probs, labels = table.probs, table.labels
                figures.append(
                    _image(
                        _diagram_pair(probs, labels, f"{task} / {method}", n_bins, strategy, level),
                        f"reliability diagram {task} {method}",
                        f"{task} / {method}: bars = accuracy per confidence bin (count above), band and "
                        f"whiskers = {round(100 * level)}% Wilson interval; right: confidences of right and "
                        "wrong answers",
                    )
                )
                subject_rows += _subject_rows(run, task, table)
    parts = [
        f"<p>Model: <code>{_e(run.model)}</code>; methods {_e(', '.join(run.methods))}; "
        f"{round(100 * level)}% percentile bootstrap intervals in brackets.</p>",
        "<h3>Summary</h3>",
        _table(["task", "method", "n", *_TOP_METRICS], summary_rows, text_columns=2),
        "<h3>Reliability diagrams and confidence histograms</h3>",
        f'<div class="figures">{"".join(figures)}</div>',
    ]
    if subject_rows:
        header = ["task", "subject", "n", "accuracy", "ece", "sce", "brier", "mean confidence"]
        parts += ["<h3>Per-subject breakdown</h3>", _table(header, subject_rows, text_columns=2)]
    parts += ["<h3>Settings</h3>", _settings(run.manifest)]
    return heading, "\n".join(parts)


def _change_cell(value: float | None, *, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    css = "up" if value > 0 else "down" if value < 0 else ""
    return f'<span class="{css}">{value:+.{digits}f}</span>'


def _comparison_section(path: Path, heading: str) -> tuple[str, str]:
    data = _read_json(path / "comparison.json")
    settings = data.get("settings", {})
    level = round(100 * float(settings.get("level", 0.95)))
    ranked = any(change.get("rank") is not None for change in data["changes"])
    header = ["pair", "task", "method", "metric", "base", "aligned", "delta", f"{level}% CI", "CR"]
    header += ["CR rank"] if ranked else []
    rows = []
    for change in data["changes"]:
        if change["metric"] not in HEADLINE_METRICS:
            continue
        rate = change.get("change_rate")
        row = [_e(change["pair"]), _e(change["task"]), _e(change["method"]), _e(change["metric"]),
               _number(change["base"]), _number(change["aligned"]), _change_cell(change["delta"]),
               f'<span class="ci">[{_number(change["delta_low"])}, {_number(change["delta_high"])}]</span>',
               "n/a" if rate is None else f"{100 * rate:+.1f}%"]  # fmt: skip
        if ranked:
            row.append("" if change.get("rank") is None else _e(change["rank"]))
        rows.append(row)
    parts = [
        "<p>delta = aligned − base with a paired bootstrap interval (items resampled once for both runs); "
        "CR = delta / base (Oh &amp; Hwang's change rate). Every metric is in "
        f"<code>{_e(path / 'comparison.json')}</code> and <code>comparison.md</code>.</p>",
        _table(header, rows, text_columns=4),
    ]
    plot = path / "comparison.png"
    if plot.is_file():
        parts.append(
            _image(plot.read_bytes(), "change of each metric with its interval", "Δ per task / method")
        )
    parts += ["<h3>Settings</h3>", _settings({"settings": settings, "pairs": data.get("pairs", [])})]
    return heading, "\n".join(parts)


def _training_section(path: Path, heading: str, results: dict[str, Any]) -> tuple[str, str]:
    columns = ("accuracy", "ece", "sce", "brier", "mean_confidence")
    parts = []
    if "before" in results and "after" in results:
        rows = [[stage, _e(results[stage]["n_items"])] + [_number(results[stage][key]) for key in columns]
                for stage in ("before", "after")]  # fmt: skip
        rows.append(
            ["change", ""] + [_change_cell(results["after"][k] - results["before"][k]) for k in columns]
        )
        parts += ["<h3>Before and after</h3>", _table(["", "n", *columns], rows)]
    log = results.get("log") or []
    if log:
        keys = [key for key in log[0] if key != "epoch"]
        rows = [
            [_number(entry.get("epoch"), 2)] + [_number(entry.get(key), 4) for key in keys] for entry in log
        ]
        parts += ["<h3>Training log</h3>", _table(["epoch", *(_e(key) for key in keys)], rows)]
    parts += ["<h3>Settings</h3>", _settings(results.get("settings", {}))]
    return heading, "\n".join(parts)


def _demo_sections(path: Path) -> list[tuple[str, str]]:
    demo = _read_json(path / "demo.json")
    world = demo.get("world", {})
    facts = (
        f"<p>World preset <code>{_e(demo.get('preset'))}</code>, seed {_e(demo.get('seed'))}: the pretrained "
        f"model recalls {_number(world.get('recall_known'))} of the facts it read and "
        f"{_number(world.get('recall_unknown'))} of the others "
        f"(chance {_number(world.get('recall_chance'))}). "
        f"Temperature fitted on the calibration people: T = {_number(demo.get('temperature'), 2)}.</p>"
    )
    rows = []
    for row in demo["rows"]:
        rows.append(
            [_e(row["variant"]), _e(row["group"]), _e(row["n_items"])]
            + [_number(row[key]) for key in ("accuracy", "ece", "sce", "brier", "mean_confidence")]
        )
    header = ["variant", "people", "n", "accuracy", "ece", "sce", "brier", "mean confidence"]
    sections = [
        (
            f"Demo: {path}",
            facts
            + "<h3>Calibration per variant on the test people</h3>"
            + "<p>known = people whose facts were in pretraining.</p>"
            + _table(header, rows, text_columns=2),
        )
    ]
    if (path / "comparison" / "comparison.json").is_file():
        sections.append(_comparison_section(path / "comparison", "Demo: pretrained vs aligned (DPO)"))
    for name, label in (("pretrained-test", "pretrained model"), ("aligned-test", "aligned model")):
        if (path / name / "run.json").is_file():
            sections.append(_eval_section(path / name, f"Demo evaluation: {label} on the test people"))
    return sections


def _sections(path: Path) -> list[tuple[str, str]]:
    if not path.is_dir():
        raise InputError(
            f"{path}: not a directory; pass llmcal output directories (eval, compare, demo, ...)."
        )
    if (path / "demo.json").is_file():
        return _demo_sections(path)
    if (path / "comparison.json").is_file():
        return [_comparison_section(path, f"Comparison: {path}")]
    if (path / "run.json").is_file():
        return [_eval_section(path, f"Evaluation: {path}")]
    if (path / "results.json").is_file():
        results = _read_json(path / "results.json")
        if isinstance(results, dict) and ("n_train" in results or "n_pairs" in results):
            kind = "Alignment" if "n_pairs" in results else "Fine-tuning"
            return [_training_section(path, f"{kind}: {path}", results)]
    raise InputError(
        f"{path}: not an llmcal output directory (expected demo.json, comparison.json, run.json, or a "
        "fine-tuning results.json)."
    )


def report_html(paths: Sequence[str | Path], *, title: str = "llmcal report") -> str:
    """The HTML of a report over ``paths`` (llmcal output directories), one section per run.

    Raises:
        InputError: If no path is given or one is not a recognised, complete llmcal output directory.
    """
    if not paths:
        raise InputError("No directories to report on.")
    sections = []
    for path in paths:
        try:
            sections += _sections(Path(path))
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            raise InputError(
                f"{path}: an output file does not have the structure llmcal writes ({type(error).__name__}: "
                f"{error}); was it edited or written by another version?"
            ) from None
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
