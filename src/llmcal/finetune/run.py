"""One fine-tuning run: load, optionally wrap in LoRA, train with a calibration-aware loss, evaluate, save.

:func:`finetune` trains an in-memory model; :func:`finetune_named_model` loads one by name and labels the
calibration items with prior-knowledge ground truth first (what ``llmcal finetune`` runs).

Open-ended items train on their first accepted answer; their evaluation before and after generates the
answers greedily and reads the ``seq-prob`` confidence (accuracy = exact match; SCE and Brier, which need
options, are left empty).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from llmcal.atomic import write_directory_atomic
from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.confidence.generation_extraction import GenerationSettings, extract_generation_records
from llmcal.confidence.methods import OptionProbabilities, probabilities
from llmcal.confidence.predictions import method_predictions
from llmcal.distributed import process_rank
from llmcal.errors import InputError
from llmcal.finetune.losses import LOSSES, check_open_ended
from llmcal.finetune.packing import PackedExample, pack_items
from llmcal.finetune.settings import FinetuneSettings, LoraSettings
from llmcal.finetune.trainer import SUMMARY_NAME, CalibrationTrainer
from llmcal.locking import output_lock
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.summary import CALIBRATION_ROW_BINNING, CalibrationRow, calibration_row, predictions_row
from llmcal.runs.manifest import build_manifest, check_resume, write_manifest
from llmcal.runs.training import TrainingResults, write_style_adaptation, write_training_results
from llmcal.scoring.fingerprint import model_fingerprint
from llmcal.scoring.hf import HFBackend, context_length
from llmcal.tasks.prompts import PromptFormat
from llmcal.tasks.schema import MCItem, OpenItem
from llmcal.tasks.spec import DEFAULT_STOP, ClozeStyle

__all__ = [
    "FinetuneSettings",
    "LoraSettings",
    "check_item_kinds",
    "evaluate_model",
    "evaluate_open_model",
    "finetune",
    "finetune_named_model",
]

# The confidence in a generated answer that the before/after rows of an open-ended run report.
_OPEN_EVAL_METHOD = "seq-prob"


def _in_memory_backend(model: Any, tokenizer: Any) -> HFBackend:
    """A float32 scoring backend over an in-memory model, on the device it is on."""
    return HFBackend("in-memory", device=str(next(model.parameters()).device), dtype="float32",
                     model_object=model, tokenizer=tokenizer)  # fmt: skip


def evaluate_model(
    model: Any, tokenizer: Any, items: Sequence[MCItem], *, format: PromptFormat, style: ClozeStyle
) -> OptionProbabilities:
    """Option probabilities (``sum`` method), labels and option mask of ``items`` under an in-memory model."""
    backend = _in_memory_backend(model, tokenizer)
    records = extract_records(items, backend, ExtractionSettings(("sum",), format), task="eval", style=style)
    return probabilities(records, "sum")


def evaluate_open_model(
    model: Any, tokenizer: Any, items: Sequence[OpenItem], *, style: ClozeStyle, stop: tuple[str, ...]
) -> Predictions:
    """The ``seq-prob`` predictions on open-ended ``items`` under an in-memory model (greedy answers)."""
    backend = _in_memory_backend(model, tokenizer)
    settings = GenerationSettings((_OPEN_EVAL_METHOD,))
    records = extract_generation_records(items, backend, settings, task="eval", style=style, stop=stop)
    return method_predictions(records, _OPEN_EVAL_METHOD, "eval")


def _evaluation_row(
    model: Any,
    tokenizer: Any,
    items: Sequence[MCItem] | Sequence[OpenItem],
    settings: FinetuneSettings,
    stop: tuple[str, ...],
) -> CalibrationRow:
    open_items = [item for item in items if isinstance(item, OpenItem)]
    if open_items:
        predictions = evaluate_open_model(model, tokenizer, open_items, style=settings.style, stop=stop)
        return predictions_row(predictions)
    mc_items = [item for item in items if isinstance(item, MCItem)]
    return calibration_row(
        *evaluate_model(model, tokenizer, mc_items, format=settings.format, style=settings.style)
    )


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

    Raises:
        InputError: If a loss that needs known flags has no labelled calibration items, settings are
            invalid, the item sets mix kinds, or ``resume`` finds a run with other settings or items.
    """
    open_ended = check_item_kinds(settings.loss, train_items, calibration_items, eval_items)
    if LOSSES.get(settings.loss).needs_known_flags and (
        not calibration_items or len(calibration_known) != len(calibration_items)
    ):
        raise InputError(
            f"--method {settings.loss} needs calibration items with known/unknown ground truth; got "
            f"{len(calibration_items)} calibration items and {len(calibration_known)} known flags. Pass "
            "--calibration-data (in Python: calibration_items and their calibration_known flags), or "
            "choose a loss that does not read known flags."
        )
    if settings.epochs < 1 or settings.batch_size < 1 or settings.learning_rate <= 0:
        raise InputError("epochs and batch size must be positive, and the learning rate above 0.")
    out = Path(out_dir)
    manifest = build_manifest(
        "finetune",
        model={"name": str(getattr(model.config, "_name_or_path", "")),
               "known_calibration_items": sum(map(bool, calibration_known)),
               "fingerprint": model_fingerprint(model)},
        settings=settings.record(),
        tasks={"train": train_items, "calibration": calibration_items},
    )  # fmt: skip
    with output_lock(out, "llmcal finetune", main=process_rank()[0] == 0):
        checkpoint = _resume_point(out, manifest) if resume else None
        if settings.checkpoints and not resume and (out / "checkpoints").exists():
            raise InputError(
                f"{out}/checkpoints exists: pass --resume to continue that run, or use a new --out."
            )
        if process_rank()[0] == 0:  # under a launcher, the main process writes
            write_manifest(out, manifest)
        before = _evaluation_row(model, tokenizer, eval_items, settings, stop) if eval_items else None

        torch.manual_seed(settings.seed)
        trainable = model
        if settings.lora is not None:
            from peft import get_peft_model

            with warnings.catch_warnings():
                # peft asks the model by a name transformers deprecated: not the user's concern.
                warnings.filterwarnings(
                    "ignore", message=".*is_gradient_checkpointing", category=FutureWarning
                )
                trainable = get_peft_model(model, settings.lora.peft_config())
        config = model.config
        max_length = context_length(config)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        train = pack_items(
            train_items, tokenizer, max_length=max_length, format=settings.format, style=settings.style
        )
        calibration = pack_items(
            calibration_items, tokenizer, max_length=max_length, format=settings.format, style=settings.style,
            known=list(calibration_known) if calibration_known else None,
        ) if calibration_items else []  # fmt: skip
        style_adaptation = None
        if settings.style_adaptation_items > 0 and checkpoint is None:  # a checkpoint has the adapted weights
            # CogCalib's style adaptation: a short SFT pass on a slice, so the answer format is learnt before
            # the NLL threshold (fitted on the adapted model) has to separate knowledge from format. It saves
            # nothing: a checkpoint of it in out/checkpoints would be resumed as if it were the main run's.
            adaptation = train[: settings.style_adaptation_items]
            warm_up = _trainer(
                trainable, settings, out / "style-adaptation", adaptation, [], pad_id, loss="sft", epochs=1,
                show_progress=show_progress, checkpoints=False, open_ended=open_ended,
            ).train()  # fmt: skip
            style_adaptation = {"items": len(adaptation), "train_loss": float(warm_up.training_loss)}
            if process_rank()[0] == 0:
                write_style_adaptation(out, style_adaptation)
        trainer = _trainer(
            trainable, settings, out / "checkpoints", train, calibration, pad_id, loss=settings.loss,
            epochs=settings.epochs, show_progress=show_progress, checkpoints=settings.checkpoints,
            open_ended=open_ended,
        )  # fmt: skip
        if checkpoint is not None:
            trainer.resume_summary(checkpoint)
        trainer.train(resume_from_checkpoint=checkpoint)
        trained = trainable.merge_and_unload() if settings.lora is not None else trainable
        trained.eval()
        # Under accelerate/torchrun every process holds the same trained weights; one evaluates and writes.
        main_process = bool(trainer.is_world_process_zero())
        after = None
        if main_process and eval_items:
            after = _evaluation_row(trained, tokenizer, eval_items, settings, stop)
        results = TrainingResults(
            kind="finetune",
            settings=settings.record(),
            n_examples=len(train_items),
            train_loss=trainer.mean_training_loss(),
            # Keys sorted as a resumed Trainer reads its log back from trainer_state.json: the same bytes.
            log=[dict(sorted(entry.items())) for entry in trainer.state.log_history if "loss" in entry],
            main_process=main_process,
            before=before,
            after=after,
            metric_binning=CALIBRATION_ROW_BINNING if before is not None else None,
            style_adaptation=style_adaptation,
            epochs=trainer.epoch_state.history,
            detector_forward_items=trainer.epoch_state.calibration_forwards,
            known_flag_forward_items=trainer.epoch_state.known_flag_forwards,
        )
        if main_process:
            save_training_outputs(out, results, trained, tokenizer if save_model else None)
        return trained, results


def save_training_outputs(out: Path, results: TrainingResults, trained: Any, tokenizer: Any | None) -> None:
    """Writes ``results.json`` and, given a tokenizer, the trained model (LoRA merged) as ``out/model``."""
    if tokenizer is not None:

        def save(folder: Path) -> None:
            trained.save_pretrained(folder, safe_serialization=True)
            tokenizer.save_pretrained(folder)

        write_directory_atomic(out / "model", save)  # never a half-written model/ after a kill
    write_training_results(out, results)


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
    """
    from llmcal.knowledge.ground_truth import known_items, known_open_items

    check_item_kinds(settings.loss, train_items, calibration_items, eval_items)  # before loading the model
    backend = HFBackend(model, device="auto" if torch.cuda.is_available() else "cpu", dtype="float32")
    open_calibration = [item for item in calibration_items if isinstance(item, OpenItem)]
    mc_calibration = [item for item in calibration_items if isinstance(item, MCItem)]
    known: list[bool] = []
    if open_calibration:
        known = known_open_items(open_calibration, backend, style=settings.style, stop=stop)
    elif mc_calibration:
        known = known_items(mc_calibration, backend, format=settings.format, style=settings.style)
    _, results = finetune(
        backend.model, backend.tokenizer, train_items, settings, out_dir, calibration_items=calibration_items,
        calibration_known=known, eval_items=eval_items, show_progress=show_progress, resume=resume, stop=stop,
    )  # fmt: skip
    return results


def _resume_point(out: Path, manifest: dict[str, Any]) -> str | None:
    """The run's last complete checkpoint (None before the first), after checking it is the same run.

    Complete means llmcal's summary was written beside the Trainer's files, which it is last: a run
    killed in between resumes from the checkpoint before (the Trainer keeps two), or from the start.
    """
    check_resume(out, manifest)
    folder = out / "checkpoints"
    complete = [path for path in folder.glob("checkpoint-*") if (path / SUMMARY_NAME).is_file()]
    steps = {path: int(path.name[len("checkpoint-") :]) for path in complete if path.name[11:].isdigit()}
    return str(max(steps, key=steps.__getitem__)) if steps else None


def _trainer(
    model: Any,
    settings: FinetuneSettings,
    output_dir: Path,
    train: list[PackedExample],
    calibration: list[PackedExample],
    pad_id: int,
    *,
    loss: str,
    epochs: int,
    show_progress: bool,
    checkpoints: bool,
    open_ended: bool = False,
) -> CalibrationTrainer:
    from transformers import TrainingArguments

    arguments = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=settings.batch_size,
        num_train_epochs=epochs,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="cosine",
        # 5% warm-up in whole steps: short runs get none (a first step at learning rate 0 would be lost).
        warmup_steps=int(0.05 * epochs * math.ceil(len(train) / settings.batch_size)),
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_strategy="epoch",
        save_strategy="epoch" if checkpoints else "no",
        save_total_limit=2,
        report_to="none",
        seed=settings.seed,
        data_seed=settings.seed,
        remove_unused_columns=False,
        disable_tqdm=not show_progress,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    trainer = CalibrationTrainer(
        model=model,
        args=arguments,
        loss=loss,
        loss_config=settings.config_of(loss),
        train_examples=train,
        calibration_examples=calibration,
        pad_id=pad_id,
        refresh_every_epoch=settings.refresh_every_epoch,
        open_ended=open_ended,
    )
    if not show_progress:
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)  # it prints every log dict when the bar is off
        trainer.remove_callback(ProgressCallback)
    return trainer
