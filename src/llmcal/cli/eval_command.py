"""``llmcal eval``: score a model on tasks with every confidence method and write calibration results.

Multiple-choice tasks are scored option by option; open-ended tasks (``facts_open``, ``triviaqa``, a
``--data`` file with ``answers``) are answered greedily and the answers judged by the generation
confidence methods.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

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

from llmcal.cli.answers_option import given_answers_option, refuse_sampling_options
from llmcal.cli.metric_options import (
    DEFAULTS,
    MAX_SEED,
    By,
    NBins,
    NResamples,
    NStrata,
    stratification_option,
)
from llmcal.cli.option_values import (
    CLOZE_STYLE_CHOICES,
    PROMPT_FORMAT_CHOICES,
    cloze_style_option,
    comma_list,
    prompt_format_option,
    stop_strings,
)
from llmcal.cli.out_paths import check_out_dir
from llmcal.cli.sampling_options import Answers, Nli, Samples, Temperature, TopK, TopP, with_nli
from llmcal.cli.server_options import (
    Concurrency,
    Servers,
    Timeout,
    Tokenizer,
    check_backend_options,
    server_backend,
)
from llmcal.cli.tables import answer_lines, strata_table, summary_table
from llmcal.confidence.extraction import ExtractionSettings, check_methods
from llmcal.confidence.generation_extraction import (
    GenerationSettings,
    check_generation_methods,
    sampling_method_names,
    single_pass_method_names,
)
from llmcal.confidence.methods import METHODS
from llmcal.distributed import Shard
from llmcal.errors import InputError
from llmcal.evaluation import check_stratification, evaluate
from llmcal.metrics.settings import MetricSettings
from llmcal.reports.reliability import save_reliability_pngs
from llmcal.runs.evaluation import EvalResults, EvalSettings, Stratification, strata_bins_name
from llmcal.scoring.given_answers import GivenAnswers
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks.prompts import PromptFormat
from llmcal.tasks.selection import EvalTask, select_tasks

if TYPE_CHECKING:
    from llmcal.scoring.backend_settings import BackendOptions
    from llmcal.scoring.requests import ScoringBackend

__all__ = ["eval_"]

# The defaults of options that are settings fields: the settings' own, so the CLI and library cannot drift.
_MC_DEFAULTS = ExtractionSettings()
_OPEN_DEFAULTS = GenerationSettings()

# Built from the registries, so a method registered before the CLI is imported is listed with the others.
_METHODS_HELP = (
    f"Confidence methods. Multiple-choice: {', '.join(METHODS.names())}. "
    f"Open-ended: {', '.join(single_pass_method_names())}"
    f"; over --samples sampled answers: {', '.join(sampling_method_names())}. Default: every method of the "
    "tasks' kind but those over samples."
)


def eval_(
    model: Annotated[
        str,
        typer.Option(
            help="Causal LM: hub id, local directory, .gguf file, or a packaged model (see `llmcal models`); "
            "with --server, the served model's name."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output directory; rerunning with the same one resumes.")],
    task: Annotated[
        str | None, typer.Option(help="Built-in task(s), comma-separated (see `llmcal tasks`).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Items file (.jsonl/.csv/.parquet) in the llmcal schema.")
    ] = None,
    methods: Annotated[str | None, typer.Option(help=_METHODS_HELP)] = None,
    format: Annotated[
        str, typer.Option("--format", help=f"{PROMPT_FORMAT_CHOICES} (continuation methods).")
    ] = _MC_DEFAULTS.format,
    num_fewshot: Annotated[int, typer.Option(min=0, help="Solved examples before each item.")] = (
        _MC_DEFAULTS.num_fewshot
    ),
    max_new_tokens: Annotated[
        int, typer.Option(min=1, help="Open-ended tasks: the most tokens of a generated answer.")
    ] = _OPEN_DEFAULTS.max_new_tokens,
    stop: Annotated[
        list[str] | None,
        typer.Option(
            help="Open-ended tasks: a string an answer ends at (repeatable; '\\n' is a newline). Default: "
            "the task's own (a newline for --data)."
        ),
    ] = None,
    samples: Samples = None,
    temperature: Temperature = None,
    top_k: TopK = None,
    top_p: TopP = None,
    nli: Nli = None,
    answers: Answers = None,
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
        str, typer.Option(help=f"--data items only: {CLOZE_STYLE_CHOICES} (see llmcal.tasks.spec).")
    ] = "qa",
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED, help="Few-shot and bootstrap seed.")
    ] = DEFAULTS.seed,
    n_bins: NBins = DEFAULTS.n_bins,
    n_resamples: NResamples = DEFAULTS.n_resamples,
    by: By = None,
    n_strata: NStrata = 4,
    servers: Servers = None,
    tokenizer: Tokenizer = None,
    concurrency: Concurrency = 8,
    timeout: Timeout = 600.0,
) -> None:
    """Evaluate a model's confidence calibration on multiple-choice or open-ended tasks.

    \f
    Why it is long: typer reads a command's options from its parameters, one each; the body is
    the command's steps: check every option and read the items (before anything is written), load the
    model, evaluate with a progress bar, then show the results.
    """  # noqa: D301 (the form feed ends the help text Click shows; what follows is for readers of the code)
    prompt_format = prompt_format_option(format)
    size = _batch_size(batch_size)
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
    sampling = {"samples": samples, "temperature": temperature, "top_k": top_k, "top_p": top_p}
    choices = _ConfidenceChoices(
        methods, prompt_format, num_fewshot, seed, max_new_tokens, stop_strings(stop), sampling
    )
    given_answers = None
    if answers is not None:
        refuse_sampling_options([f"--{name.replace('_', '-')}" for name in choices.given_sampling()])
    confidence = _confidence_settings(tasks, choices)
    if answers is not None:
        given_answers, confidence = given_answers_option(
            answers, tasks, confidence, methods_given=methods is not None
        )
    if nli is not None:
        confidence = with_nli(confidence, nli)
    settings = EvalSettings(confidence, MetricSettings(n_bins=n_bins, n_resamples=n_resamples, seed=seed))
    check_stratification(tasks, stratification)
    options: BackendOptions = {
        "device": device,
        "dtype": dtype,
        "batch_size": size,
        "revision": revision,
        "strategy": strategy,  # type: ignore[typeddict-item]  # checked by BackendSettings
        "trust_remote_code": trust_remote_code,
    }
    err = Console(stderr=True, markup=False)
    check_backend_options(
        servers,
        tokenizer,
        {key: value for key, value in options.items() if key != "batch_size"},
        _IN_PROCESS_DEFAULTS,
    )
    backend: ScoringBackend
    if servers:
        backend = server_backend(
            model, servers, tokenizer=tokenizer, batch_size=None if size == "auto" else size,
            concurrency=concurrency, timeout=timeout, on_status=lambda text: err.print(text, highlight=False),
        )  # fmt: skip
        shard = _process_shard()
    else:
        backend, shard = _load_model(model, options, err)
    if given_answers is not None:
        backend = GivenAnswers(backend, given_answers, str(answers))
    results = _evaluate_with_progress(_Run(tasks, settings, out, stratification, shard), backend, err)
    if shard.is_main:
        _show(results, out, stratification)


def _batch_size(value: str) -> int | Literal["auto"]:
    """``--batch-size``: a positive integer, or ``auto``.

    Raises:
        InputError: If it is neither.
    """
    if value == "auto":
        return "auto"
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"--batch-size must be a positive integer or 'auto'; got {value!r}.")
    return int(value)


@dataclass(frozen=True)
class _ConfidenceChoices:
    """The options choosing confidence methods and how items are prompted and answered, checked as given."""

    methods: str | None
    prompt_format: PromptFormat
    num_fewshot: int
    seed: int
    max_new_tokens: int
    stop: tuple[str, ...] | None
    sampling: dict[str, int | float | None]

    def given_sampling(self) -> dict[str, int | float]:
        """The sampling options given on the command line (the others keep their defaults)."""
        return {name: value for name, value in self.sampling.items() if value is not None}


def _confidence_settings(
    tasks: Sequence[EvalTask], choices: _ConfidenceChoices
) -> ExtractionSettings | GenerationSettings:
    """The settings of the tasks' kind; without ``--methods``, the settings' default: every method of it.

    Raises:
        InputError: If a method is unknown or of the other kind, or ``--stop`` is given for
            multiple-choice items.
    """
    chosen = None if choices.methods is None else comma_list(choices.methods)
    given = choices.given_sampling()
    flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
    if tasks[0].kind == "open":
        generation = GenerationSettings(
            num_fewshot=choices.num_fewshot,
            seed=choices.seed,
            max_new_tokens=choices.max_new_tokens,
            stop=_stop_override(choices.stop, tasks),
        )
        if chosen is not None:
            generation = replace(generation, methods=check_generation_methods(chosen))
        if generation.sampling is None:
            if given:
                raise InputError(
                    f"{flags} set how answers are sampled, but no method over samples is chosen; add one "
                    f"to --methods ({', '.join(sampling_method_names())})."
                )
            return generation
        return replace(generation, sampling=SamplingSettings(seed=choices.seed, **given))  # type: ignore[arg-type]
    if given:
        raise InputError(f"{flags} apply to open-ended tasks; these items are multiple-choice.")
    if choices.stop is not None:
        raise InputError("--stop applies to open-ended tasks; these items are multiple-choice.")
    extraction = ExtractionSettings(
        format=choices.prompt_format, num_fewshot=choices.num_fewshot, seed=choices.seed
    )
    return extraction if chosen is None else replace(extraction, methods=check_methods(chosen))


def _stop_override(stops: tuple[str, ...] | None, tasks: Sequence[EvalTask]) -> tuple[str, ...] | None:
    """``--stop``, or ``None`` where it spells out every task's own: the same run as without it."""
    # None, not the same strings: the settings then equal those of a run without --stop, which it resumes.
    if stops is not None and all(tuple(stops) == tuple(task.stop) for task in tasks):
        return None
    return stops


# The in-process options' defaults: beside --server each must be left at its default.
_IN_PROCESS_DEFAULTS = {
    "device": "auto",
    "dtype": "auto",
    "revision": None,
    "strategy": "auto",
    "trust_remote_code": False,
}


def _process_shard() -> Shard:
    from llmcal.distributed import process_shard

    return process_shard()


def _load_model(model: str, options: BackendOptions, err: Console) -> tuple[ScoringBackend, Shard]:
    """The model, on this process's device under a data-parallel launcher, and this process's shard.

    Status lines (a GGUF conversion, the scoring strategy chosen) go to ``err``; the hub's and
    transformers' own progress bars are off, since llmcal draws its own.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as transformers_logging

    from llmcal.distributed import device_for_shard, process_shard
    from llmcal.scoring.hf import HFBackend

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # llmcal draws its own bar

    shard = process_shard()  # under torchrun / accelerate launch: this process's share of the items
    on_shard = options.copy()
    on_shard["device"] = device_for_shard(options.get("device", "auto"), shard)
    backend = HFBackend(model, on_status=lambda message: err.print(message, highlight=False), **on_shard)
    return backend, shard


@dataclass(frozen=True)
class _Run:
    """What one evaluation runs: the tasks, their settings, where results go, and this process's share."""

    tasks: Sequence[EvalTask]
    settings: EvalSettings
    out: Path
    stratification: Stratification | None
    shard: Shard


def _evaluate_with_progress(run: _Run, backend: ScoringBackend, err: Console) -> EvalResults:
    """Runs (or resumes) the evaluation, with a bar of item-passes on ``err`` when it is a terminal."""
    passes = run.settings.extraction.scoring_passes
    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal or not run.shard.is_main,
    ) as progress:
        # In a data-parallel run the main process's bar shows its own share of the items.
        total = -(-sum(len(task.items) for task in run.tasks) * passes // run.shard.world_size)
        bar = progress.add_task("scoring", total=total)
        return evaluate(
            run.tasks,
            backend,
            run.settings,
            run.out,
            on_progress=lambda n: progress.advance(bar, n),
            render=save_reliability_pngs,
            shard=run.shard,
            stratification=run.stratification,
        )


def _show(results: EvalResults, out: Path, stratification: Stratification | None) -> None:
    """Prints the summary table, the answers' lines, each task's strata and the files written."""
    console = Console(markup=False)
    console.print(summary_table(results))
    for line in answer_lines(results):
        console.print(line, highlight=False)
    for name, task_results in results.tasks.items():
        if task_results.strata is not None:
            console.print(strata_table(name, task_results.strata))
    extra = "" if stratification is None else f", {strata_bins_name(stratification.by)}"
    console.print(f"wrote {out}/results.json, records.jsonl, bins.csv{extra} and reliability diagrams")
