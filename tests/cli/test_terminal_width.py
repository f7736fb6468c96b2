"""What a reader sees in a standard 80-column terminal: tables that fit, intervals whole, help that reads."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from llmcal.cli.app import main
from llmcal.cli.tables import change_table, summary_table
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import MetricValue, Summary

_INTERVAL = re.compile(r"\[[+-]?\d\.\d{3}, [+-]?\d\.\d{3}\]")
_OPTION_LINE = re.compile(r"^  (-\S.*?) {2,}(\S.*)$")  # an option, then its help on the same line


def _change(task: str, method: str, metric: str, delta: float) -> MetricChange:
    return MetricChange(pair="aligned", task=task, method=method, metric=metric, base=0.25,
                        aligned=0.25 + delta, delta=delta, delta_low=delta - 0.041, delta_high=delta + 0.037,
                        change_rate=delta / 0.25, rank=None)  # fmt: skip


def _render(table) -> str:
    console = Console(width=80, record=True)
    console.print(table)
    return console.export_text()


def test_a_comparison_fits_80_columns_with_every_interval_on_one_line():
    changes = [
        _change(task, method, metric, 0.0123)
        for task in ("arc_easy", "mmlu_social_sciences")
        for method in ("sum", "choice")
        for metric in ("accuracy", "ece", "sce")
    ]
    text = _render(change_table(changes, title="aligned: aligned − base", level=0.95, ranked=False))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert len(_INTERVAL.findall(text)) == len(changes)  # none broken across lines
    assert "…" not in text


def test_summary_tables_fit_80_columns():
    settings = MetricSettings()
    metrics = [
        MetricValue(name, 0.1234, 0.1, 0.2, "") for name in ("accuracy", "ece", "sce", "brier", "smooth_ece")
    ]
    summary = Summary("s", 1000, 4, settings, metrics)
    from llmcal.confidence import ExtractionSettings
    from llmcal.runs import EvalResults, EvalSettings
    from llmcal.runs.evaluation import TaskResults

    results = EvalResults(
        EvalSettings(ExtractionSettings(("sum", "mean", "min", "choice"))),
        {"mmlu_social_sciences": TaskResults(1000, {m: summary for m in ("sum", "mean", "min", "choice")})},
    )
    text = _render(summary_table(results))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "0.123" in text


@pytest.mark.parametrize(
    "command", ["eval", "finetune", "compare", "probe", "align", "demo", "report", "metrics", "from-lm-eval"]
)
def test_help_reads_at_80_columns(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main([command, "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    # Each option's help starts within the first half of the line, so it has room to read: the help
    # column is at least 40 characters wide (rich's boxed panels once left it 15).
    inline = [match.start(2) for line in lines if (match := _OPTION_LINE.match(line))]
    wrapped = [len(line) - len(line.lstrip()) for line in lines if line.startswith(" " * 30) and line.strip()]
    assert inline
    assert max(inline + wrapped) <= 40


def test_finetune_help_keeps_each_options_help_in_whole_phrases(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["finetune", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Model to fine-tune: hub id, local directory," in text
    assert "RCFT as released: E-step once before" in text


def test_the_variant_table_fits_80_columns_with_headings_as_words():
    from llmcal.cli.tables import demo_rows_table
    from llmcal.metrics.summary import CalibrationRow
    from llmcal.runs.demo import DemoRow

    row = CalibrationRow(
        n_items=960, accuracy=0.672, ece=0.214, sce=0.117, brier=0.535, mean_confidence=0.884
    )
    rows = [DemoRow(variant, group, row) for variant in ("sft", "pretrained sum + temperature")
            for group in ("all", "known", "unknown")]  # fmt: skip
    text = _render(demo_rows_table(rows))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "mean confidence" in text
    assert "mean_confidence" not in text


def test_stratum_tables_head_their_columns_with_words():
    from llmcal.cli.tables import stratum_summaries_table
    from llmcal.metrics.strata import stratify

    strata = stratify([1.0, 2.0, 3.0, 4.0], n_strata=2)
    names = ("accuracy", "ece", "top_brier", "auroc")
    summary = Summary("s", 2, None, MetricSettings(), [MetricValue(n, 0.5, 0.4, 0.6, "") for n in names])
    text = _render(stratum_summaries_table("s", "size", strata, [summary, summary], [0.5, 0.5]))
    assert "top brier" in text
    assert "top_brier" not in text
