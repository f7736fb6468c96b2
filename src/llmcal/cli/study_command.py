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

__all__ = ["check_models_installed", "run_and_print_study", "study"]


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
    check_models_installed(settings, "llmcal study")
    command = "llmcal study " + " ".join(shlex.quote(arg) for arg in _arguments(out, settings, doc))
    run_and_print_study(out, settings, command, doc)


def check_models_installed(settings: StudySettings, command: str) -> None:
    """Refuses, before anything is written, a study whose packaged models are not installed.

    Raises:
        InputError: Naming the first missing model and its install command.
    """
    needed = {part.model for part in (settings.prevention, settings.restore) if part is not None}
    needed |= set(settings.detector.models if settings.detector is not None else ())
    for name in sorted(needed):
        packaged = PACKAGED_MODELS.get(name)
        if packaged is not None and not packaged.is_installed():
            raise InputError(f"{command} needs {packaged.description}; install it with: {packaged.install}")


def run_and_print_study(
    out: Path, settings: StudySettings, command: str, doc: Path | None = None, *, html_title: str = ""
) -> StudyResults:
    """Runs (or resumes) the study with its stages on stderr, then prints a line per verdict.

    ``command`` is the command line the page names; ``html_title``, when given, also writes
    ``out/report.html``.
    """
    from llmcal.study.run import run_study

    quiet_transformers()
    err = Console(stderr=True)
    start = time.perf_counter()

    def stage(text: str) -> None:
        err.print(f"[dim]· {text} (at {time.perf_counter() - start:.0f} s)[/]", highlight=False)

    def render(where: Path, made: StudyResults) -> None:
        from llmcal.reports.study import render_study

        render_study(where, made, doc, command)
        if html_title:
            from llmcal.reports.html import write_report

            write_report([where], where / "report.html", title=html_title)

    results = run_study(out, settings, stage=stage, render=render)
    console = Console(markup=False, highlight=False)
    for verdict in results.verdicts:
        console.print(f"{verdict.verdict:>15}  {verdict.id}: {verdict.measured}")
    written = [f"{out}/study.md", f"{out}/study.json", f"{out}/figures"]
    written += [f"{out}/report.html"] if html_title else []
    written += [str(doc)] if doc is not None else []
    console.print(
        f"Wrote {', '.join(written[:-1])} and {written[-1]} in {time.perf_counter() - start:.0f} s "
        f"(cells: {results.seconds:.0f} s of compute).",
        soft_wrap=True,  # paths are copied from here: never broken across lines
    )
    return results


def _arguments(out: Path, settings: StudySettings, doc: Path | None) -> list[str]:
    arguments = ["--out", str(out)]
    if settings.name == "quick":
        arguments.append("--quick")
    if doc is not None:
        arguments += ["--doc", str(doc)]
    return arguments
