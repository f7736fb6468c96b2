"""``llmcal align``: preference alignment (DPO or IPO via TRL) of a causal LM, e.g. the aligned model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmcal.cli.option_values import cloze_style_option, prompt_format_option
from llmcal.errors import InputError

__all__ = ["align_command"]


def _is_preference_file(path: Path) -> bool:
    """Whether ``path`` is a JSONL file of preference pairs (its first record has ``chosen``)."""
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    from llmcal.jsonl import read_jsonl

    for _, record in read_jsonl(path):  # a bad first line is reported here, with its file:line
        return isinstance(record, dict) and "chosen" in record
    return False


def align_command(
    model: Annotated[str, typer.Option(help="Model to align (hub id or local directory).")],
    data: Annotated[
        Path,
        typer.Option(
            help="Preference pairs (JSONL with prompt/chosen/rejected) or MC items (.jsonl/.csv/.parquet), "
            "from which pairs are built: chosen = the gold option, rejected = a wrong one."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output directory: model/ and results.json.")],
    method: Annotated[str, typer.Option(help="dpo | ipo.")] = "dpo",
    lora: Annotated[
        str | None, typer.Option(help="LoRA 'rank,alpha[,target,...]'; default: full fine-tuning.")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-6,
    beta: Annotated[float, typer.Option(help="DPO beta: pull towards the reference model.")] = 0.1,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    rejected: Annotated[
        str, typer.Option(help="From MC items: 'random' (one wrong option per item) or 'all'.")
    ] = "random",
    eval_data: Annotated[
        Path | None, typer.Option(help="Items evaluated before and after alignment.")
    ] = None,
    cloze_style: Annotated[str, typer.Option(help="qa | completion (prompts built from items).")] = "qa",
    format: Annotated[str, typer.Option("--format", help="cloze | letters.")] = "cloze",
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Align a model on preference pairs with TRL's DPOTrainer and report calibration before and after."""
    style = cloze_style_option(cloze_style)
    prompt_format = prompt_format_option(format)
    if rejected not in ("random", "all"):
        raise InputError(f"--rejected must be 'random' or 'all'; got {rejected!r}.")
    from llmcal.cli.finetune_command import before_after_table, parse_lora
    from llmcal.finetune.alignment import (
        ALIGNMENT_LOSSES,
        AlignSettings,
        RejectedChoice,
        align,
        preference_pairs_from_items,
        read_preference_pairs,
    )
    from llmcal.tasks.loading import load_items

    if method not in ALIGNMENT_LOSSES:
        raise InputError(f"--method must be one of {', '.join(ALIGNMENT_LOSSES)}; got {method!r}.")
    choice: RejectedChoice = "all" if rejected == "all" else "random"
    if _is_preference_file(data):
        pairs = read_preference_pairs(data)
    else:
        pairs = preference_pairs_from_items(
            load_items(data), format=prompt_format, style=style, rejected=choice, seed=seed
        )
    evaluation = load_items(eval_data) if eval_data else []
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from llmcal.scoring.hf import HFBackend

    backend = HFBackend(model, device="auto", dtype="float32")
    settings = AlignSettings(
        loss=method,
        beta=beta,
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        lora=parse_lora(lora),
        seed=seed,
    )
    _, results = align(
        backend.model, backend.tokenizer, pairs, settings, out, eval_items=evaluation, format=prompt_format,
        style=style, show_progress=Console(stderr=True).is_terminal,
    )  # fmt: skip
    if not results["main_process"]:
        return
    console = Console()
    if evaluation:
        console.print(before_after_table(f"{method}: {eval_data}", results))
    console.print(
        f"aligned on {len(pairs)} preference pairs; wrote {out}/model and {out}/results.json "
        f"(train loss {results['train_loss']:.4f})"
    )
