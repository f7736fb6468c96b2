"""One formatting rule for every number a person reads: terminal, markdown and HTML show the same text."""

from __future__ import annotations

import re

from rich.console import Console

from llmcal.cli.tables import before_after_table, change_table
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import CalibrationRow
from llmcal.reports.cells import DECIMALS, calibration_cells, interval, number, percent
from llmcal.reports.comparison import comparison_markdown
from llmcal.runs.comparison import ComparedPair, ComparisonResults

CHANGE = MetricChange(pair="p", task="arc_easy", method="sum", metric="ece", base=0.123456, aligned=0.2,
                      delta=0.076544, delta_low=-0.01234, delta_high=0.15, change_rate=0.62,
                      rank=None)  # fmt: skip


def _terminal(table) -> str:
    console = Console(width=120, record=True)
    console.print(table)
    return console.export_text()


def test_the_rule():
    assert DECIMALS == 3
    assert (number(0.123456), number(1), number(-0.0004)) == ("0.123", "1.000", "-0.000")
    assert number(0.076544, signed=True) == "+0.077"
    assert interval(-0.01234, 0.15, signed=True) == "[-0.012, +0.150]"
    assert (percent(0.62), percent(-0.0049), percent(float("nan"))) == ("+62.0%", "-0.5%", "n/a")
    assert (number(None), number(float("nan"))) == ("n/a", "n/a")


def test_a_change_reads_the_same_in_the_terminal_markdown_and_html(tmp_path):
    from llmcal.reports.html import report_html
    from llmcal.runs.comparison import write_comparison_results

    expected = ["0.123", "0.200", "+0.077", "[-0.012, +0.150]", "+62.0%"]
    terminal = " ".join(_terminal(change_table([CHANGE], title="t", level=0.95, ranked=False)).split())
    assert " ".join(expected) in terminal
    results = ComparisonResults(MetricSettings(), [ComparedPair("p", "a", "b", "m1", "m2")], [CHANGE])
    assert "| " + " | ".join(expected) + " |" in comparison_markdown(results)
    write_comparison_results(tmp_path / "cmp", results)
    page = report_html([tmp_path / "cmp"])
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", page) if "arc_easy" in r)
    cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    for text in expected:
        assert text in cells, (text, cells)


def test_calibration_rows_read_the_same_in_the_terminal_and_the_cells():
    row = CalibrationRow(
        n_items=80, accuracy=0.5, ece=0.123456, sce=float("nan"), brier=0.6, mean_confidence=0.7
    )
    assert calibration_cells(row) == ["0.500", "0.123", "n/a", "0.600", "0.700"]
    text = _terminal(before_after_table("t", row, row))
    assert "0.500" in text
    assert "0.123" in text
    assert "0.1235" not in text
