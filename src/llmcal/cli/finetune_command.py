"""``llmcal finetune``: calibration-aware fine-tuning of a causal LM on multiple-choice or open-ended items.

Open-ended items (files with ``answers``) train on their first accepted answer; ``sft``, ``ls``,
``cogcalib-ls`` and ``cogcalib-ecp`` apply to them, the regularisers over the answer tokens' whole
vocabulary.
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
from llmcal.cli.tables import before_after_table
from llmcal.errors import InputError
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


def finetune_command(
    model: Annotated[
        str,
        typer.Option(help=f"Model to fine-tune: {MODEL_HELP}."),
    ],
    data: Annotated[
        Path, typer.Option(help="Training items (.jsonl/.csv/.parquet), multiple-choice or open-ended.")
    ],
    out: Annotated[Path, typer.Option(help="Output directory: model/ and results.json.")],
    method: Annotated[
        str, typer.Option(help="sft | ls | cogcalib-ls | cogcalib-mbls | cogcalib-ecp | cft | rcft.")
    ] = FinetuneSettings.loss,
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
    # The loss hyperparameters' defaults are those of their config dataclasses in finetune.losses, which
    # imports torch; the command line must not (tests/cli check the two stay equal).
    smoothing: Annotated[float, typer.Option(help="Label smoothing epsilon (ls).")] = 0.1,
    alpha: Annotated[float, typer.Option(help="CogCalib regulariser weight.")] = 0.1,
    margin: Annotated[float, typer.Option(help="MbLS margin.")] = 10.0,
    rcft_alpha: Annotated[float, typer.Option(help="RCFT mix a in (1-a) SFT + a c L_cal.")] = 0.5,
    rcft_scale: Annotated[float, typer.Option(help="RCFT constant c (the authors' 1e-3).")] = 1e-3,
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
) -> None:
    """Fine-tune with a calibration-aware loss and report calibration before and after."""
    check_out_dir(out)
    style = cloze_style_option(cloze_style)
    prompt_format = prompt_format_option(format)
    from llmcal.finetune.losses import CogCalibConfig, LabelSmoothingConfig, MarginCogCalibConfig, RcftConfig
    from llmcal.finetune.run import finetune_named_model

    # Every loss's options are passed (and recorded in results.json), whichever loss runs.
    settings = FinetuneSettings(
        loss=method,
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        lora=parse_lora(lora),
        loss_configs=(
            LabelSmoothingConfig(smoothing=smoothing),
            CogCalibConfig(alpha=alpha),
            MarginCogCalibConfig(alpha=alpha, margin=margin),
            RcftConfig(
                rcft_alpha=rcft_alpha,
                rcft_scale=rcft_scale,
                rcft_include_top_bin=not rcft_authors_code,
                rcft_target_gradient=rcft_authors_code,
            ),
        ),
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
