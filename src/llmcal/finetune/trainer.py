"""Calibration-aware fine-tuning: a thin ``transformers.Trainer`` subclass over packed MC examples.

The trainer computes every option's log-likelihood in one forward pass per example
(:mod:`llmcal.finetune.packing`) and hands them to a loss plug-in looked up by name in
:data:`llmcal.finetune.losses.LOSSES`. It never looks at the loss's name: what the plug-in declares it needs
is refreshed at the start of every epoch:

- known/unknown flags (``needs_known_flags``, the CogCalib losses): a threshold on the gold-answer NLL of
  each *calibration* item under the current model in eval mode, fitted by Youden's J against ground truth.
  Training examples are then classified by the NLL of the training forward itself, so the detector costs
  one forward over the calibration split per epoch and nothing per step; when the model has dropout, the
  training forward is noisier than the eval-mode one the threshold was fitted on, so the batch's NLL comes
  from an extra no-gradient eval-mode forward instead (one forward over the training set per epoch).
- the plug-in's ``epoch_hook`` (RCFT's E-step: per-bin accuracy and counts of the current model over the
  training set), whose state the loss receives on every step of the epoch.

Open-ended examples (their gold answer as the one option) also hand the loss the full-vocabulary terms of
the answer's tokens (:class:`~llmcal.finetune.losses.AnswerTokenTerms`), from the same forward pass.

Because it is a ``Trainer``, ``accelerate launch`` / DeepSpeed / FSDP work unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from llmcal.finetune.losses import LOSSES, EpochData, LossInputs, check_open_ended
from llmcal.finetune.packing import (
    PackedExample,
    collate,
    model_config,
    option_forward,
    option_log_likelihoods,
)
from llmcal.knowledge.detector import ThresholdDetector, youden_threshold
from llmcal.runs.training_checkpoint import (
    TrainerSummary,
    read_trainer_summary,
    write_trainer_summary,
)
from llmcal.scoring.attention import packing_pattern

__all__ = ["CalibrationTrainer", "EpochState", "has_dropout", "option_scores_of"]


@dataclass
class EpochState:
    """What is re-estimated each epoch, and its history (for the run's results.json).

    Attributes:
        detector: The known/unknown threshold of this epoch (losses that need known flags).
        loss_state: The latest state of the loss plug-in's epoch hook (e.g. RCFT's E-step bins).
        history: One entry per refresh: the epoch, and what the detector and the hook recorded.
        calibration_forwards: Calibration examples scored to fit the detector threshold.
        known_flag_forwards: Training examples scored again in eval mode for their known flag (models
            with dropout only).
    """

    detector: ThresholdDetector | None = None
    loss_state: object = None
    history: list[dict[str, Any]] = field(default_factory=list)
    calibration_forwards: int = 0
    known_flag_forwards: int = 0


_DROPOUT_LAYERS = (
    torch.nn.Dropout,
    torch.nn.Dropout1d,
    torch.nn.Dropout2d,
    torch.nn.Dropout3d,
    torch.nn.AlphaDropout,
    torch.nn.FeatureAlphaDropout,
)


def has_dropout(model: Any) -> bool:
    """Whether ``model`` computes differently in train and eval mode through dropout.

    Dropout layers with ``p > 0`` (GPT-2's, peft's ``lora_dropout``), or a positive ``attention_dropout``
    in the config: the Llama family (Llama, Mistral, Qwen, Gemma) passes that rate to its attention kernel
    directly, with no layer to find.
    """
    if any(isinstance(module, _DROPOUT_LAYERS) and module.p > 0 for module in model.modules()):
        return True
    rate = getattr(getattr(model, "config", None), "attention_dropout", 0.0)
    return isinstance(rate, int | float) and rate > 0


def option_scores_of(
    model: Any, examples: Sequence[PackedExample], pad_id: int, batch_size: int = 64
) -> torch.Tensor:
    """Option log-likelihoods of ``examples`` under ``model`` without gradients, shape (n, K)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    pattern = packing_pattern(model_config(model))
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = collate(examples[start : start + batch_size], pad_id, pattern)
            chunks.append(option_log_likelihoods(model, {k: v.to(device) for k, v in batch.items()}).cpu())
    if was_training:
        model.train()
    width = max(chunk.shape[1] for chunk in chunks)
    padded = [torch.nn.functional.pad(c, (0, width - c.shape[1]), value=float("-inf")) for c in chunks]
    return torch.cat(padded)


class _EpochRefresh(TrainerCallback):
    """Re-fits the detector threshold and re-runs the loss's epoch hook when an epoch begins."""

    def __init__(self, trainer: CalibrationTrainer) -> None:
        self.trainer = trainer

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer.refresh(epoch=round(state.epoch or 0))


class _ResumableSummary(TrainerCallback):
    """Saves, with each checkpoint, the running loss total and epoch history; restores them on resume."""

    def __init__(self, trainer: CalibrationTrainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        restored = self.trainer.restored_summary
        if restored is not None:
            # The Trainer zeroes its loss total as training starts; carrying it on keeps the sum in the
            # uninterrupted run's order, so the run's mean loss is the same float.
            self.trainer._total_loss_scalar = restored.loss_total

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        epoch_state = self.trainer.epoch_state
        summary = TrainerSummary(
            loss_total=self.trainer._total_loss_scalar,
            history=epoch_state.history,
            calibration_forwards=epoch_state.calibration_forwards,
            known_flag_forwards=epoch_state.known_flag_forwards,
        )
        if folder.is_dir():
            write_trainer_summary(folder, summary)


class CalibrationTrainer(Trainer):
    """``Trainer`` whose loss is a registered calibration-aware loss over option log-likelihoods.

    Args:
        loss: Loss name in :data:`~llmcal.finetune.losses.LOSSES`.
        loss_config: Hyperparameters of that loss, an instance of its plug-in's ``config_type``; ``None``
            for its defaults.
        train_examples: Packed training examples (also the trainer's ``train_dataset``).
        calibration_examples: Packed calibration examples with ground-truth ``known`` (losses that need
            known flags).
        pad_id: Padding token id.
        refresh_every_epoch: Re-fit the threshold / re-run the epoch hook each epoch (else only once, first).
        open_ended: The examples are open-ended items (their gold answer only): the loss also gets the
            answer tokens' full-vocabulary terms.
        **kwargs: Passed to ``transformers.Trainer`` (model, args, ...).

    Raises:
        InputError: If ``loss`` is not registered (with suggestions), ``loss_config`` has the wrong type,
            or the examples are open-ended and the loss does not apply to them.
    """

    def __init__(
        self,
        *,
        loss: str,
        loss_config: object = None,
        train_examples: Sequence[PackedExample],
        calibration_examples: Sequence[PackedExample] = (),
        pad_id: int,
        refresh_every_epoch: bool = True,
        open_ended: bool = False,
        **kwargs: Any,
    ) -> None:
        plugin = LOSSES.get(loss)  # fail early on unknown names, with suggestions
        if open_ended:
            check_open_ended(loss)
        loss_config = plugin.checked_config(loss_config, owner=f"CalibrationTrainer: loss {loss!r}")
        # Packed rows under the model's own attention rules where proven exact, else one row per option.
        pattern = packing_pattern(model_config(kwargs["model"])) if kwargs.get("model") is not None else None
        super().__init__(
            train_dataset=list(train_examples),
            data_collator=lambda batch: collate(batch, pad_id, pattern),
            **kwargs,
        )
        self.loss_name = loss
        self.loss_plugin = plugin
        self.loss_config = loss_config
        self.train_examples = list(train_examples)
        self.calibration_examples = list(calibration_examples)
        self.pad_id = pad_id
        self.refresh_every_epoch = refresh_every_epoch
        self.open_ended = open_ended
        self.epoch_state = EpochState()
        self.stochastic = has_dropout(self.model)
        self.restored_summary: TrainerSummary | None = None
        self.add_callback(_EpochRefresh(self))
        self.add_callback(_ResumableSummary(self))

    def resume_summary(self, checkpoint: str | Path) -> None:
        """Restores the epoch history, forward counts and loss total saved with ``checkpoint``.

        The Trainer's checkpoint restores weights, optimizer, scheduler, data order and its log; these
        are llmcal's (and the loss total, which the Trainer restarts at zero), so that a resumed run
        reports what the uninterrupted run would have: the mean loss over all its steps and every epoch.
        A checkpoint saved without the file (by an older llmcal) restores nothing.

        Raises:
            InputError: If the checkpoint's summary is unreadable or not one this llmcal writes.
        """
        summary = read_trainer_summary(Path(checkpoint))
        if summary is None:
            return
        self.restored_summary = summary
        self.epoch_state.history = list(summary.history)
        self.epoch_state.calibration_forwards = summary.calibration_forwards
        self.epoch_state.known_flag_forwards = summary.known_flag_forwards

    def mean_training_loss(self) -> float:
        """The mean loss over every step of the run, those before a resume included."""
        return float(self._total_loss_scalar / max(self.state.global_step, 0.001))

    def refresh(self, *, epoch: int) -> None:
        """Re-fits the detector threshold and/or re-runs the loss's epoch hook for the coming epoch."""
        fitted = self.epoch_state.detector is not None or self.epoch_state.loss_state is not None
        if epoch > 0 and not self.refresh_every_epoch and fitted:
            return  # a run resumed from a checkpoint has no state yet and fits it on the restored weights
        entry: dict[str, Any] = {"epoch": epoch}
        if self.loss_plugin.needs_known_flags:
            scores = option_scores_of(self.model, self.calibration_examples, self.pad_id)
            labels = torch.tensor([e.label for e in self.calibration_examples])
            nll = -scores[torch.arange(len(labels)), labels]
            truth = np.array([bool(e.known) for e in self.calibration_examples])
            detector = youden_threshold(nll.numpy(), truth)
            self.epoch_state.detector = detector
            self.epoch_state.calibration_forwards += len(self.calibration_examples)
            entry |= {"threshold": detector.threshold, "tpr": detector.tpr, "tnr": detector.tnr}
        if self.loss_plugin.epoch_hook is not None:
            update = self.loss_plugin.epoch_hook(EpochData(self._training_scores), self.loss_config)
            self.epoch_state.loss_state = update.state
            entry |= update.record
        self.epoch_state.history.append(entry)

    def _training_scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Option scores and labels of the training set under the current model (for epoch hooks)."""
        scores = option_scores_of(self.model, self.train_examples, self.pad_id)
        return scores, torch.tensor([e.label for e in self.train_examples])

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """The registered loss of ``self.loss_name`` on this batch."""
        scores, answer_tokens = option_forward(model, inputs, answer_tokens=self.open_ended)
        labels = inputs["labels"]
        known = None
        if self.loss_plugin.needs_known_flags and self.epoch_state.detector is not None:
            known = self.known_flags(model, inputs, scores)
        batch = LossInputs(scores, labels, known, inputs["option_mask"], answer_tokens)
        loss = LOSSES.get(self.loss_name)(batch, self.loss_config, self.epoch_state.loss_state)
        return (loss, {"option_scores": scores}) if return_outputs else loss

    def known_flags(self, model: Any, inputs: dict[str, torch.Tensor], scores: torch.Tensor) -> torch.Tensor:
        """CogCalib's ``1[NLL_i <= t]`` for the batch, with the NLL in the mode the threshold was fitted in.

        ``scores`` are the training forward's option scores; they are reused when train and eval mode
        compute the same function (no dropout), and replaced by a no-gradient eval-mode forward otherwise.
        """
        assert self.epoch_state.detector is not None
        if model.training and self.stochastic:
            model.eval()
            with torch.no_grad():
                scores = option_log_likelihoods(model, inputs)
            model.train()
            self.epoch_state.known_flag_forwards += int(scores.shape[0])
        nll = -scores.detach().gather(1, inputs["labels"].unsqueeze(1)).squeeze(1)
        return nll <= self.epoch_state.detector.threshold
