"""``llmcal align``: preference alignment (DPO or IPO via TRL) of a causal LM, e.g. the aligned model.

``--method`` lists the alignment loss registry (:data:`llmcal.finetune.alignment_losses.ALIGNMENT_LOSSES`);
``AlignSettings`` checks the name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmcal.cli.metric_options import MAX_SEED
from llmcal.cli.option_values import MODEL_HELP, cloze_style_option, prompt_format_option
from llmcal.cli.out_paths import check_out_dir
from llmcal.cli.plugin_options import registry_help
from llmcal.cli.tables import before_after_table
from llmcal.errors import InputError
from llmcal.finetune.alignment_losses import ALIGNMENT_LOSSES
from llmcal.finetune.settings import AlignSettings
from llmcal.reports.cells import number
from llmcal.tasks.loading import load_items

DEFAULTS = AlignSettings()
METHOD_HELP = registry_help((name, ALIGNMENT_LOSSES.get(name).summary) for name in ALIGNMENT_LOSSES)

__all__ = ["align_command"]


def align_command(
    model: Annotated[
        str,
        typer.Option(help=f"Model to align: {MODEL_HELP}."),
    ],
    data: Annotated[
        Path,
        typer.Option(
            help="Preference pairs (JSONL with prompt/chosen/rejected) or MC items (.jsonl/.csv/.parquet), "
            "from which pairs are built: chosen = the gold option, rejected = a wrong one."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output directory: model/ and results.json.")],
    method: Annotated[str, typer.Option(help=METHOD_HELP)] = DEFAULTS.loss,
    lora: Annotated[
        str | None, typer.Option(help="LoRA 'rank,alpha[,target,...]'; default: full fine-tuning.")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = DEFAULTS.epochs,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = DEFAULTS.learning_rate,
    beta: Annotated[float, typer.Option(help="DPO beta: pull towards the reference model.")] = DEFAULTS.beta,
    batch_size: Annotated[int, typer.Option(min=1)] = DEFAULTS.batch_size,
    rejected: Annotated[
        str, typer.Option(help="From MC items: 'random' (one wrong option per item) or 'all'.")
    ] = "random",
    eval_data: Annotated[
        Path | None, typer.Option(help="Items evaluated before and after alignment.")
    ] = None,
    cloze_style: Annotated[str, typer.Option(help="qa | completion (prompts built from items).")] = "qa",
    format: Annotated[str, typer.Option("--format", help="cloze | letters.")] = "cloze",
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED)] = DEFAULTS.seed,
) -> None:
    """Align a model on preference pairs with TRL's DPOTrainer and report calibration before and after.

    \f
    Why it is long: typer reads a command's options from its parameters, one each (the loss's built from
    its settings by :func:`~llmcal.cli.plugin_options.with_options`); the body is settings, items, run, show.
    """  # noqa: D301 (the form feed ends the help text Click shows; what follows is for readers of the code)
    check_out_dir(out)
    style = cloze_style_option(cloze_style)
    prompt_format = prompt_format_option(format)
    if rejected not in ("random", "all"):
        raise InputError(f"--rejected must be 'random' or 'all'; got {rejected!r}.")
    from llmcal.cli.finetune_command import parse_lora

    settings = AlignSettings(method, beta, epochs, lr, batch_size, parse_lora(lora), seed)
    from llmcal.finetune.alignment import align_named_model, load_preference_pairs

    pairs = load_preference_pairs(
        data, format=prompt_format, style=style, rejected="all" if rejected == "all" else "random", seed=seed
    )
    evaluation = load_items(eval_data) if eval_data else []
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    results = align_named_model(
        model, pairs, settings, out, eval_items=evaluation, format=prompt_format, style=style,
        show_progress=Console(stderr=True, markup=False).is_terminal,
    )  # fmt: skip
    if not results.main_process:
        return
    console = Console(markup=False)
    if results.before is not None and results.after is not None:
        console.print(before_after_table(f"{method}: {eval_data}", results.before, results.after))
    console.print(
        f"aligned on {len(pairs)} preference pairs; wrote {out}/model and {out}/results.json "
        f"(train loss {number(results.train_loss)})"
    )
