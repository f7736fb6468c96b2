"""``llmcal report DIR [DIR ...] --out report.html``: one self-contained HTML report of llmcal outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmcal.cli.out_paths import check_out_file

__all__ = ["report"]


def report(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Output directories of llmcal eval, compare, finetune, align or demo."),
    ],
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    title: Annotated[str, typer.Option(help="Report title.")] = "llmcal report",
) -> None:
    """Write one HTML file (images inline, no network) with tables, reliability diagrams and settings."""
    check_out_file(out, example="report.html")
    from llmcal.reports.html import write_report

    with Console(stderr=True, markup=False).status("drawing the report"):
        written = write_report(runs, out, title=title)
    Console(markup=False).print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)")
