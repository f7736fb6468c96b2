"""``llmcal finetune``: calibration-aware fine-tuning of a causal LM on multiple-choice or open-ended items.

The losses and their hyperparameter options come from the loss registry
(:data:`llmcal.finetune.loss_registry.LOSSES`): ``--method`` lists its names, and each field of a
registered loss's settings dataclass is an option (:mod:`llmcal.cli.plugin_options`), so a new loss needs
no code here. Open-ended items (files with ``answers``) train on their first accepted answer, with the
losses that declare they apply to them, the regularisers over the answer tokens' whole vocabulary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llmcal.cli.metric_options import MAX_SEED
from llmcal.cli.option_values import MODEL_HELP, cloze_style_option, prompt_format_option
from llmcal.cli.out_paths import check_out_dir
from llmcal.cli.plugin_options import registry_help, settings_from_options, settings_options, with_options
from llmcal.cli.tables import before_after_table
from llmcal.errors import InputError
from llmcal.finetune.loss_registry import LOSSES, config_types
from llmcal.finetune.settings import FinetuneSettings, LoraSettings
from llmcal.reports.cells import number
from llmcal.tasks.loading import load_any_items

__all__ = ["finetune_command", "parse_lora"]


def parse_lora(value: str | None) -> LoraSettings | None:
    """``--lora rank,alpha[,module,...]`` as :class:`~llmcal.finetune.settings.LoraSettings` (None: full)."""
    if value is None:
        return None
    parts = value.split(",")
    try:
        rank, alpha = int(parts[0]), int(parts[1]) if len(parts) > 1 else 2 * int(parts[0])
    except ValueError:
        raise InputError(f"--lora must be 'rank,alpha[,module,module...]'; got {value!r}.") from None
    return LoraSettings(rank, alpha, tuple(parts[2:]))


METHOD_HELP = registry_help((name, LOSSES.get(name).summary) for name in LOSSES)


@with_options(settings_options(config_types()), after="format")
def finetune_command(
    model: Annotated[
        str,
        typer.Option(help=f"Model to fine-tune: {MODEL_HELP}."),
    ],
    data: Annotated[
        Path, typer.Option(help="Training items (.jsonl/.csv/.parquet), multiple-choice or open-ended.")
    ],
    out: Annotated[Path, typer.Option(help="Output directory: model/ and results.json.")],
    method: Annotated[str, typer.Option(help=METHOD_HELP)] = FinetuneSettings.loss,
    lora: Annotated[
        str | None, typer.Option(help="LoRA 'rank,alpha[,target,...]'; default: full fine-tuning.")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = FinetuneSettings.epochs,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = FinetuneSettings.learning_rate,
    batch_size: Annotated[int, typer.Option(min=1)] = FinetuneSettings.batch_size,
    eval_data: Annotated[Path | None, typer.Option(help="Items evaluated before and after training.")] = None,
    calibration_data: Annotated[
        Path | None, typer.Option(help="Held-out items for the CogCalib threshold.")
    ] = None,
    cloze_style: Annotated[str, typer.Option(help="qa | completion.")] = FinetuneSettings.style,
    format: Annotated[str, typer.Option("--format", help="cloze | letters.")] = FinetuneSettings.format,
    # Here, after --format: every registered loss's hyperparameter options (with_options above).
    style_adaptation: Annotated[
        int, typer.Option(min=0, help="Items for a one-epoch SFT warm-up before training (CogCalib).")
    ] = FinetuneSettings.style_adaptation_items,
    rcft_authors_code: Annotated[
        bool,
        typer.Option(
            help="RCFT as released: E-step once before training, top bin left out, gradient through the "
            "non-max targets."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED)] = FinetuneSettings.seed,
    resume: Annotated[
        bool,
        typer.Option(help="Continue from the last checkpoint in OUT/checkpoints (same settings, items)."),
    ] = False,
    **hyperparameters: Any,
) -> None:
    """Fine-tune with a calibration-aware loss and report calibration before and after.

    \f
    Why it is long: typer reads a command's options from its parameters, one each (the losses' are added
    from their settings by :func:`~llmcal.cli.plugin_options.with_options`); the body is settings, items,
    run, show.
    """  # noqa: D301 (the form feed ends the help text Click shows; what follows is for readers of the code)
    check_out_dir(out)
    style = cloze_style_option(cloze_style)
    prompt_format = prompt_format_option(format)
    from llmcal.finetune.run import finetune_named_model

    # --rcft-authors-code is one switch for three settings in two places (two RcftConfig fields and
    # FinetuneSettings.refresh_every_epoch), the ways the released code differs from the paper, so it is
    # spelled out here rather than built from a field.
    authors_code = {"rcft_include_top_bin": not rcft_authors_code, "rcft_target_gradient": rcft_authors_code}
    # Every loss's options are passed (and recorded in results.json), whichever loss runs.
    settings = FinetuneSettings(
        loss=method,
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        lora=parse_lora(lora),
        loss_configs=settings_from_options(config_types(), {**hyperparameters, **authors_code}),
        refresh_every_epoch=not rcft_authors_code,
        style_adaptation_items=style_adaptation,
        checkpoints=True,
        format=prompt_format,
        style=style,
        seed=seed,
    )
    train = load_any_items(data)
    evaluation = load_any_items(eval_data) if eval_data else []
    calibration = load_any_items(calibration_data) if calibration_data else []
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    results = finetune_named_model(
        model, train, settings, out, calibration_items=calibration, eval_items=evaluation,
        show_progress=Console(stderr=True, markup=False).is_terminal, resume=resume,
    )  # fmt: skip
    if not results.main_process:
        return  # other processes of a distributed run stay quiet; the main one reports
    console = Console(markup=False)
    if results.before is not None and results.after is not None:
        console.print(before_after_table(f"{method}: {eval_data}", results.before, results.after))
    console.print(f"wrote {out}/model and {out}/results.json (train loss {number(results.train_loss)})")
