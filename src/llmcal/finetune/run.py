"""One fine-tuning run: load, optionally wrap in LoRA, train with a calibration-aware loss, evaluate, save.

:func:`finetune` trains an in-memory model; :func:`finetune_named_model` loads one by name and labels the
calibration items with prior-knowledge ground truth first (what ``llmcal finetune`` runs). Both check the
items, then hand the run to :func:`llmcal.finetune.training_run.run_training` (the sequence every training
command shares) with a :class:`~llmcal.finetune.finetune_procedure.FinetuneProcedure` (what is
fine-tuning's own: resume point, LoRA, style adaptation, trainer).

Open-ended items train on their first accepted answer; their evaluation before and after generates the
answers greedily and reads the ``seq-prob`` confidence (accuracy = exact match; SCE and Brier, which need
options, are left empty).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from llmcal.errors import InputError
from llmcal.finetune.finetune_procedure import FinetuneProcedure
from llmcal.finetune.losses import LOSSES, check_open_ended
from llmcal.finetune.model_evaluation import EvaluationItems, evaluate_model, evaluate_open_model
from llmcal.finetune.settings import FinetuneSettings, LoraSettings
from llmcal.finetune.training_run import run_training
from llmcal.runs.training import TrainingResults
from llmcal.scoring.hf import HFBackend
from llmcal.tasks.schema import MCItem, OpenItem
from llmcal.tasks.spec import DEFAULT_STOP

__all__ = [
    "FinetuneSettings",
    "LoraSettings",
    "check_item_kinds",
    "evaluate_model",
    "evaluate_open_model",
    "finetune",
    "finetune_named_model",
]


def check_item_kinds(
    loss: str,
    train: Sequence[MCItem] | Sequence[OpenItem],
    calibration: Sequence[MCItem] | Sequence[OpenItem] = (),
    evaluation: Sequence[MCItem] | Sequence[OpenItem] = (),
) -> bool:
    """Whether the items are open-ended, after checking all sets are of one kind the loss applies to.

    Raises:
        InputError: If the sets mix kinds, or the items are open-ended and ``loss`` compares options.
    """
    named = {"training": train, "calibration": calibration, "evaluation": evaluation}
    kinds = {name: isinstance(items[0], OpenItem) for name, items in named.items() if items}
    if len(set(kinds.values())) > 1:
        described = ", ".join(
            f"{name} items {'open-ended' if is_open else 'multiple-choice'}"
            for name, is_open in kinds.items()
        )
        raise InputError(f"The items of one fine-tuning run must be of one kind; got {described}.")
    open_ended = any(kinds.values())
    if open_ended:
        check_open_ended(loss)
    return open_ended


def finetune(
    model: Any,
    tokenizer: Any,
    train_items: Sequence[MCItem] | Sequence[OpenItem],
    settings: FinetuneSettings,
    out_dir: str | Path,
    *,
    calibration_items: Sequence[MCItem] | Sequence[OpenItem] = (),
    calibration_known: Sequence[bool] = (),
    eval_items: Sequence[MCItem] | Sequence[OpenItem] = (),
    save_model: bool = True,
    show_progress: bool = False,
    resume: bool = False,
    stop: tuple[str, ...] = DEFAULT_STOP,
    on_epoch_end: Callable[[int, Any], None] | None = None,
) -> tuple[Any, TrainingResults]:
    """Fine-tunes ``model`` on ``train_items`` and returns the trained model and the run's results.

    ``out/run.json`` records the settings and the items; ``resume=True`` continues from the last checkpoint
    in ``out/checkpoints`` (weights, optimizer, scheduler, data order and RNG states), refusing a run whose
    settings or items differ; a run killed before its first checkpoint starts again from the beginning.
    The known/unknown threshold and the loss's epoch hook (RCFT's E-step) are re-fitted when the resumed
    epoch begins, as they are at the start of every epoch. The style-adaptation warm-up never writes to
    ``out/checkpoints``: a checkpoint there is always one of the main run.

    Args:
        model: A causal LM (a fresh copy: it is trained in place).
        tokenizer: Its tokenizer.
        train_items: Training items, multiple-choice or open-ended (then the calibration and evaluation
            items are open-ended too, and the loss must apply to them: ``LossPlugin.open_ended``).
        settings: Loss and hyperparameters.
        out_dir: Where ``results.json`` (and, with ``save_model``, ``model/``) are written.
        calibration_items: Held-out items for the known/unknown threshold (required by losses that need
            known flags, the ``cogcalib-*`` ones).
        calibration_known: Ground-truth known flags of ``calibration_items``.
        eval_items: Items evaluated before and after training (accuracy, ECE, SCE, Brier).
        save_model: Save the fine-tuned model (LoRA merged in) as a standard HF directory.
        show_progress: Show the Trainer's progress bar.
        resume: Continue from the last checkpoint in ``out/checkpoints``.
        stop: Open-ended evaluation items: where a generated answer ends.
        on_epoch_end: Called with (epoch number from 1, the model in eval mode) after every epoch of the
            main run, before the next begins (e.g. to evaluate training length in one run); the model is
            put back in training mode after it.

    Raises:
        InputError: If a loss that needs known flags has no labelled calibration items, settings are
            invalid, the item sets mix kinds, or ``resume`` finds a run with other settings or items.

    Why it is long: a public entry point whose inputs after the first five are optional keywords, each
    defaulting to "not used"; an object holding them would lengthen every call that sets one and shorten
    none. The work itself is the :func:`~llmcal.finetune.training_run.run_training` skeleton.
    """
    open_ended = check_item_kinds(settings.loss, train_items, calibration_items, eval_items)
    _check_known_flags(settings, calibration_items, calibration_known)
    if settings.epochs < 1 or settings.batch_size < 1 or settings.learning_rate <= 0:
        raise InputError("epochs and batch size must be positive, and the learning rate above 0.")
    procedure = FinetuneProcedure(
        settings, train_items, calibration_items, calibration_known,
        open_ended=open_ended, resume=resume, show_progress=show_progress, on_epoch_end=on_epoch_end,
    )  # fmt: skip
    evaluation = EvaluationItems(eval_items, format=settings.format, style=settings.style, stop=stop)
    return run_training(procedure, model, tokenizer, Path(out_dir), evaluation, save_model=save_model)


def _check_known_flags(
    settings: FinetuneSettings,
    calibration_items: Sequence[MCItem] | Sequence[OpenItem],
    calibration_known: Sequence[bool],
) -> None:
    """Refuses a loss that reads known flags without calibration items labelled one flag each."""
    if LOSSES.get(settings.loss).needs_known_flags and (
        not calibration_items or len(calibration_known) != len(calibration_items)
    ):
        raise InputError(
            f"`loss` {settings.loss} needs calibration items with known/unknown ground truth; got "
            f"{len(calibration_items)} calibration items and {len(calibration_known)} known flags. Pass "
            "`calibration_items` (in Python: calibration_items and their calibration_known flags), or "
            "choose a loss that does not read known flags.",
            parameter="loss",
        )


def finetune_named_model(
    model: str,
    train_items: Sequence[MCItem] | Sequence[OpenItem],
    settings: FinetuneSettings,
    out_dir: str | Path,
    *,
    calibration_items: Sequence[MCItem] | Sequence[OpenItem] = (),
    eval_items: Sequence[MCItem] | Sequence[OpenItem] = (),
    show_progress: bool = False,
    resume: bool = False,
    stop: tuple[str, ...] = DEFAULT_STOP,
) -> TrainingResults:
    """Loads ``model`` by name, labels ``calibration_items`` with ground truth, and runs :func:`finetune`.

    The ground truth (:func:`llmcal.knowledge.ground_truth.known_items`; of open-ended items,
    :func:`~llmcal.knowledge.ground_truth.known_open_items`) comes from the pretrained model prompted in
    the format and style it will be trained on. It is computed whenever calibration items
    are given, whatever the loss, so ``run.json`` always counts the known ones.

    Args:
        model: Hub id or local directory of a causal LM; loaded in float32, on the GPU when there is one.
        train_items: Training items.
        settings: Loss and hyperparameters.
        out_dir: Where ``results.json``, ``run.json``, ``model/`` and ``checkpoints/`` are written.
        calibration_items: Held-out items for the known/unknown threshold.
        eval_items: Items evaluated before and after training.
        show_progress: Show the Trainer's progress bar.
        resume: Continue from the last checkpoint in ``out/checkpoints``.
        stop: Open-ended items: where a generated answer ends (ground truth and evaluation).

    Returns:
        The run's results (as written to ``results.json`` by the main process).

    Raises:
        InputError: As :func:`finetune`.

    Why it is long: as :func:`finetune`, whose optional keywords it passes on.
    """
    check_item_kinds(settings.loss, train_items, calibration_items, eval_items)  # before loading the model
    backend = HFBackend(model, device="auto" if torch.cuda.is_available() else "cpu", dtype="float32")
    known = _ground_truth(backend, calibration_items, settings, stop)
    _, results = finetune(
        backend.model, backend.tokenizer, train_items, settings, out_dir, calibration_items=calibration_items,
        calibration_known=known, eval_items=eval_items, show_progress=show_progress, resume=resume, stop=stop,
    )  # fmt: skip
    return results


def _ground_truth(
    backend: HFBackend,
    calibration_items: Sequence[MCItem] | Sequence[OpenItem],
    settings: FinetuneSettings,
    stop: tuple[str, ...],
) -> list[bool]:
    """Whether the pretrained model knows each calibration item, prompted as it will be trained."""
    from llmcal.knowledge.ground_truth import known_items, known_open_items

    open_calibration = [item for item in calibration_items if isinstance(item, OpenItem)]
    mc_calibration = [item for item in calibration_items if isinstance(item, MCItem)]
    if open_calibration:
        return known_open_items(open_calibration, backend, style=settings.style, stop=stop)
    if mc_calibration:
        return known_items(mc_calibration, backend, format=settings.format, style=settings.style)
    return []
