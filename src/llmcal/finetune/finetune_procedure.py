"""Fine-tuning's own part of a training run: :class:`FinetuneProcedure`.

:func:`llmcal.finetune.training_run.run_training` runs the sequence every training command shares; this
procedure brings the resume point in ``out/checkpoints``, LoRA, the packed examples, CogCalib's style
adaptation and the :class:`~llmcal.finetune.trainer.CalibrationTrainer` with its ``TrainingArguments``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from llmcal.distributed import process_rank
from llmcal.errors import InputError
from llmcal.finetune.packing import PackedExample, pack_items
from llmcal.finetune.settings import FinetuneSettings, LoraSettings
from llmcal.finetune.trainer import CalibrationTrainer
from llmcal.finetune.training_run import TrainedModel, quiet_trainer
from llmcal.runs.manifest import build_manifest, check_resume
from llmcal.runs.training import TrainingKind, write_style_adaptation
from llmcal.runs.training_checkpoint import SUMMARY_NAME
from llmcal.scoring.fingerprint import model_fingerprint
from llmcal.scoring.hf import context_length
from llmcal.tasks.schema import MCItem, OpenItem

__all__ = ["FinetuneProcedure"]


@dataclass(frozen=True)
class _PackedData:
    """A fine-tuning run's items as the trainer takes them.

    Attributes:
        train: Packed training examples.
        calibration: Packed calibration examples with their known flags (for the detector).
        pad_id: The padding token id.
        open_ended: The examples are open-ended items (their gold answer only).
    """

    train: list[PackedExample]
    calibration: list[PackedExample]
    pad_id: int
    open_ended: bool


@dataclass(frozen=True)
class _Phase:
    """One Trainer pass of a run: the main one, or CogCalib's style adaptation before it."""

    output_dir: Path
    loss: str
    epochs: int
    checkpoints: bool


@dataclass(frozen=True)
class FinetuneProcedure:
    """Fine-tuning's part of a training run (:class:`~llmcal.finetune.training_run.TrainingProcedure`)."""

    settings: FinetuneSettings
    train_items: Sequence[MCItem] | Sequence[OpenItem]
    calibration_items: Sequence[MCItem] | Sequence[OpenItem]
    calibration_known: Sequence[bool]
    open_ended: bool
    resume: bool
    show_progress: bool
    on_epoch_end: Callable[[int, Any], None] | None = None

    @property
    def kind(self) -> TrainingKind:
        """``finetune``."""
        return "finetune"

    @property
    def seed(self) -> int:
        """The settings' training seed."""
        return self.settings.seed

    @property
    def n_examples(self) -> int:
        """Training items."""
        return len(self.train_items)

    def settings_record(self) -> dict[str, Any]:
        """The settings as ``results.json`` records them."""
        return self.settings.record()

    def manifest(self, model: Any) -> dict[str, Any]:
        """``run.json``: the model (and known calibration items), settings, training and calibration items."""
        return build_manifest(
            "finetune",
            model={"name": str(getattr(model.config, "_name_or_path", "")),
                   "known_calibration_items": sum(map(bool, self.calibration_known)),
                   "fingerprint": model_fingerprint(model)},
            settings=self.settings.record(),
            tasks={"train": self.train_items, "calibration": self.calibration_items},
        )  # fmt: skip

    def start(self, out: Path, manifest: dict[str, Any]) -> str | None:
        """The checkpoint a resume continues from, after checking it is the same run.

        Raises:
            InputError: If a resume finds another run in ``out``, or a fresh run with checkpoints finds
                ``out/checkpoints``.
        """
        checkpoint = _resume_point(out, manifest) if self.resume else None
        if self.settings.checkpoints and not self.resume and (out / "checkpoints").exists():
            raise InputError(
                f"{out}/checkpoints exists: pass `resume` to continue that run, or use a new `out_dir`.",
                parameter="resume",
            )
        return checkpoint

    def train(self, model: Any, tokenizer: Any, out: Path, checkpoint: str | None) -> TrainedModel:
        """Style adaptation (unless resuming), then the main run with the calibration-aware loss."""
        trainable = _with_lora(model, self.settings.lora)
        data = self._packed(tokenizer, max_length=context_length(model.config))
        style_adaptation = None
        # A checkpoint holds the adapted weights already.
        if self.settings.style_adaptation_items > 0 and checkpoint is None:
            style_adaptation = self._adapt_style(trainable, data, out)
        main_phase = _Phase(
            out / "checkpoints", self.settings.loss, self.settings.epochs, self.settings.checkpoints
        )
        trainer = _trainer(trainable, self.settings, data, main_phase, show_progress=self.show_progress)
        if self.on_epoch_end is not None:
            trainer.add_callback(_EpochEnd(self.on_epoch_end))
        if checkpoint is not None:
            trainer.resume_summary(checkpoint)
        trainer.train(resume_from_checkpoint=checkpoint)
        return TrainedModel(
            model=trainable.merge_and_unload() if self.settings.lora is not None else trainable,
            main_process=bool(trainer.is_world_process_zero()),
            train_loss=trainer.mean_training_loss(),
            # Keys sorted as a resumed Trainer reads its log back from trainer_state.json: the same bytes.
            log=[dict(sorted(entry.items())) for entry in trainer.state.log_history if "loss" in entry],
            details={
                "style_adaptation": style_adaptation,
                "epochs": trainer.epoch_state.history,
                "detector_forward_items": trainer.epoch_state.calibration_forwards,
                "known_flag_forward_items": trainer.epoch_state.known_flag_forwards,
            },
        )

    def _packed(self, tokenizer: Any, *, max_length: int) -> _PackedData:
        settings = self.settings
        train = pack_items(
            self.train_items, tokenizer, max_length=max_length, format=settings.format, style=settings.style
        )
        calibration = pack_items(
            self.calibration_items, tokenizer, max_length=max_length, format=settings.format,
            style=settings.style, known=list(self.calibration_known) if self.calibration_known else None,
        ) if self.calibration_items else []  # fmt: skip
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return _PackedData(train, calibration, pad_id, self.open_ended)

    def _adapt_style(self, trainable: Any, data: _PackedData, out: Path) -> dict[str, Any]:
        """CogCalib's style adaptation: a short SFT pass on a slice, before the main run.

        The answer format is learnt before the NLL threshold (fitted on the adapted model) has to separate
        knowledge from format. It saves nothing: a checkpoint of it in out/checkpoints would be resumed as
        if it were the main run's.
        """
        adaptation = replace(data, train=data.train[: self.settings.style_adaptation_items], calibration=[])
        phase = _Phase(out / "style-adaptation", "sft", epochs=1, checkpoints=False)
        warm_up = _trainer(
            trainable, self.settings, adaptation, phase, show_progress=self.show_progress
        ).train()
        summary = {"items": len(adaptation.train), "train_loss": float(warm_up.training_loss)}
        if process_rank()[0] == 0:
            write_style_adaptation(out, summary)
        return summary


class _EpochEnd(TrainerCallback):
    """Hands the model, in eval mode, to a caller's function at the end of every epoch of the main run.

    What a study of training length needs: one run read after epochs 1, 2 and 4 instead of three runs.
    """

    def __init__(self, read: Callable[[int, Any], None]) -> None:
        self.read = read  # not `on_epoch_end`: that name is the event this callback answers

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model = kwargs["model"]
        was_training = model.training
        model.eval()
        try:
            self.read(round(state.epoch or 0), model)
        finally:
            if was_training:
                model.train()


def _with_lora(model: Any, lora: LoraSettings | None) -> Any:
    """``model`` wrapped in a fresh LoRA adapter, or itself for full fine-tuning."""
    if lora is None:
        return model
    from peft import get_peft_model

    with warnings.catch_warnings():
        # peft asks the model by a name transformers deprecated: not the user's concern.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        return get_peft_model(model, lora.peft_config())


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
    model: Any, settings: FinetuneSettings, data: _PackedData, phase: _Phase, *, show_progress: bool
) -> CalibrationTrainer:
    """The :class:`CalibrationTrainer` of one pass of ``model`` over ``data``."""
    trainer = CalibrationTrainer(
        model=model,
        args=_training_arguments(settings, phase, n_train=len(data.train), show_progress=show_progress),
        loss=phase.loss,
        loss_config=settings.config_of(phase.loss),
        train_examples=data.train,
        calibration_examples=data.calibration,
        pad_id=data.pad_id,
        refresh_every_epoch=settings.refresh_every_epoch,
        open_ended=data.open_ended,
    )
    quiet_trainer(trainer, show_progress=show_progress)
    return trainer


def _training_arguments(
    settings: FinetuneSettings, phase: _Phase, *, n_train: int, show_progress: bool
) -> Any:
    """The ``transformers.TrainingArguments`` of one pass over ``n_train`` examples."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(phase.output_dir),
        per_device_train_batch_size=settings.batch_size,
        num_train_epochs=phase.epochs,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="cosine",
        # 5% warm-up in whole steps: short runs get none (a first step at learning rate 0 would be lost).
        warmup_steps=int(0.05 * phase.epochs * math.ceil(n_train / settings.batch_size)),
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_strategy="epoch",
        save_strategy="epoch" if phase.checkpoints else "no",
        save_total_limit=2,
        report_to="none",
        seed=settings.seed,
        data_seed=settings.seed,
        remove_unused_columns=False,
        disable_tqdm=not show_progress,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
