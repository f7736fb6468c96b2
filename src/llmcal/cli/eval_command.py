"""``llmcal eval``: score a model on tasks with every confidence method and write calibration results.

Multiple-choice tasks are scored option by option; open-ended tasks (``facts_open``, ``triviaqa``, a
``--data`` file with ``answers``) are answered greedily and the answers judged by the generation
confidence methods.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from llmcal.cli.metric_options import (
    DEFAULTS,
    MAX_SEED,
    By,
    NBins,
    NResamples,
    NStrata,
    stratification_option,
)
from llmcal.cli.option_values import cloze_style_option, comma_list, prompt_format_option, stop_strings
from llmcal.cli.out_paths import check_out_dir
from llmcal.cli.tables import answer_lines, strata_table, summary_table
from llmcal.confidence.extraction import ExtractionSettings, check_methods
from llmcal.confidence.generation_extraction import (
    DEFAULT_GENERATION_METHODS,
    GenerationSettings,
    check_generation_methods,
)
from llmcal.errors import InputError
from llmcal.evaluation import check_stratification, evaluate
from llmcal.metrics.settings import MetricSettings
from llmcal.reports.reliability import save_reliability_pngs
from llmcal.runs.evaluation import EvalSettings, strata_bins_name
from llmcal.tasks.selection import select_tasks

__all__ = ["eval_"]


def eval_(
    model: Annotated[
        str,
        typer.Option(
            help="Causal LM: hub id, local directory, .gguf file, or a packaged model (see `llmcal models`)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output directory; rerunning with the same one resumes.")],
    task: Annotated[
        str | None, typer.Option(help="Built-in task(s), comma-separated (see `llmcal tasks`).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Items file (.jsonl/.csv/.parquet) in the llmcal schema.")
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            help="Confidence methods. Multiple-choice: sum, mean, min, choice. Open-ended: seq-prob, "
            "mean-prob, min-prob, p-true, verbal. Default: all of the tasks' kind."
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", help="cloze | letters (continuation methods).")
    ] = "cloze",
    num_fewshot: Annotated[int, typer.Option(min=0, help="Solved examples before each item.")] = 0,
    max_new_tokens: Annotated[
        int, typer.Option(min=1, help="Open-ended tasks: the most tokens of a generated answer.")
    ] = 32,
    stop: Annotated[
        list[str] | None,
        typer.Option(
            help="Open-ended tasks: a string an answer ends at (repeatable; '\\n' is a newline). Default: "
            "the task's own (a newline for --data)."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items of each task.")] = None,
    batch_size: Annotated[str, typer.Option(help="Items per forward pass, or 'auto'.")] = "auto",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto | float32 | float16 | bfloat16.")] = "auto",
    strategy: Annotated[
        str,
        typer.Option(
            help="How options are scored: auto | packed | padded | cached. auto packs each question's "
            "options into one row where that is proven exact for the model's family (docs/conformance.md), "
            "else gives each option its own row; a strategy that cannot be exact on the model is refused."
        ),
    ] = "auto",
    revision: Annotated[str | None, typer.Option(help="Model revision (branch, tag, commit).")] = None,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Allow code shipped with the model to run.")
    ] = False,
    dataset_path: Annotated[str | None, typer.Option(help="Local copy of the task's HF dataset.")] = None,
    cloze_style: Annotated[
        str, typer.Option(help="--data items only: qa | completion | partial (see llmcal.tasks.spec).")
    ] = "qa",
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED, help="Few-shot and bootstrap seed.")
    ] = DEFAULTS.seed,
    n_bins: NBins = DEFAULTS.n_bins,
    n_resamples: NResamples = DEFAULTS.n_resamples,
    by: By = None,
    n_strata: NStrata = 4,
) -> None:
    """Evaluate a model's confidence calibration on multiple-choice or open-ended tasks."""
    prompt_format = prompt_format_option(format)
    size: int | str = "auto"
    if batch_size != "auto":
        if not batch_size.isdigit() or int(batch_size) < 1:
            raise InputError(f"--batch-size must be a positive integer or 'auto'; got {batch_size!r}.")
        size = int(batch_size)
    check_out_dir(out)
    # Not part of the settings: another --by on a finished run summarises it again (llmcal.runs.evaluation).
    stratification = stratification_option(by, n_strata)
    # Everything that can fail on bad input happens before the output directory is touched.
    tasks = select_tasks(
        comma_list(task or ""),
        data,
        dataset_path=dataset_path,
        limit=limit,
        style=cloze_style_option(cloze_style),
    )
    stops = stop_strings(stop)
    if stops is not None and tasks[0].kind != "open":
        raise InputError("--stop applies to open-ended tasks; these items are multiple-choice.")
    if stops is not None and all(tuple(stops) == tuple(t.stop) for t in tasks):
        stops = None  # the tasks' own stop, spelt out: the same run as without --stop (and resumes it)
    extraction: ExtractionSettings | GenerationSettings
    if tasks[0].kind == "open":
        names = comma_list(methods) if methods is not None else list(DEFAULT_GENERATION_METHODS)
        extraction = GenerationSettings(
            check_generation_methods(names), num_fewshot, seed, max_new_tokens, stops
        )
    else:
        names = comma_list(methods) if methods is not None else ["sum", "mean", "min", "choice"]
        extraction = ExtractionSettings(check_methods(names), prompt_format, num_fewshot, seed)
    settings = EvalSettings(extraction, MetricSettings(n_bins=n_bins, n_resamples=n_resamples, seed=seed))
    check_stratification(tasks, stratification)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as transformers_logging

    from llmcal.distributed import device_for_shard, process_shard
    from llmcal.scoring.hf import HFBackend

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # llmcal draws its own bar

    shard = process_shard()  # under torchrun / accelerate launch: this process's share of the items
    err = Console(stderr=True, markup=False)
    backend = HFBackend(
        model,
        device=device_for_shard(device, shard),
        dtype=dtype,
        batch_size=size if isinstance(size, int) else "auto",
        revision=revision,
        strategy=strategy,  # type: ignore[arg-type]  # checked by HFBackend
        trust_remote_code=trust_remote_code,
        on_status=lambda message: err.print(message, highlight=False),
    )
    passes = extraction.scoring_passes
    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal or not shard.is_main,
    ) as progress:
        # In a data-parallel run the main process's bar shows its own share of the items.
        total = -(-sum(len(t.items) for t in tasks) * passes // shard.world_size)
        bar = progress.add_task("scoring", total=total)
        results = evaluate(
            tasks,
            backend,
            settings,
            out,
            on_progress=lambda n: progress.advance(bar, n),
            render=save_reliability_pngs,
            shard=shard,
            stratification=stratification,
        )
    if not shard.is_main:
        return
    console = Console(markup=False)
    console.print(summary_table(results))
    for line in answer_lines(results):
        console.print(line, highlight=False)
    for name, task_results in results.tasks.items():
        if task_results.strata is not None:
            console.print(strata_table(name, task_results.strata))
    extra = "" if stratification is None else f", {strata_bins_name(stratification.by)}"
    console.print(f"wrote {out}/results.json, records.jsonl, bins.csv{extra} and reliability diagrams")
