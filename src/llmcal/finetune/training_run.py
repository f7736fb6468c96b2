"""The sequence every training command runs, whatever it trains with: :func:`run_training`.

Lock the output directory, check where the run starts (a resume), write ``run.json``, evaluate before,
train, evaluate after, write ``results.json`` and ``model/``. Fine-tuning (:mod:`llmcal.finetune.run`) and
preference alignment (:mod:`llmcal.finetune.alignment`) differ only in what a :class:`TrainingProcedure`
brings: their manifest, their start checks, their trainer and the details their results carry.

Under a launcher (torchrun, accelerate) every process runs the sequence; only the main one takes the lock,
writes files and evaluates after training (every process holds the same trained weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from llmcal.atomic import write_directory_atomic
from llmcal.distributed import process_rank
from llmcal.finetune.model_evaluation import EvaluationItems
from llmcal.locking import output_lock
from llmcal.metrics.summary import CALIBRATION_ROW_BINNING
from llmcal.runs.manifest import write_manifest
from llmcal.runs.training import TrainingKind, TrainingResults, write_training_results

__all__ = [
    "TrainedModel",
    "TrainingProcedure",
    "quiet_trainer",
    "run_training",
    "save_training_outputs",
]


@dataclass(frozen=True)
class TrainedModel:
    """What a procedure's training hands back.

    Attributes:
        model: The trained model, LoRA merged in.
        main_process: Whether this is the main process of its launch (the one that evaluates and writes).
        train_loss: Mean training loss.
        log: One entry per logged epoch, as ``results.json`` records it.
        details: The kind's own :class:`~llmcal.runs.training.TrainingResults` fields (fine-tuning's
            epochs, style adaptation and forward counts), by field name.
    """

    model: Any
    main_process: bool
    train_loss: float
    log: list[dict[str, Any]]
    details: Mapping[str, Any] = field(default_factory=dict)


class TrainingProcedure(Protocol):
    """What one kind of training run brings to :func:`run_training`; the rest of the run is shared."""

    @property
    def kind(self) -> TrainingKind:
        """The run kind: ``run.json``'s ``kind``, the lock's ``llmcal <kind>`` and the results' kind."""
        ...

    @property
    def seed(self) -> int:
        """The torch seed set just before training (after the evaluation before it)."""
        ...

    @property
    def n_examples(self) -> int:
        """Training items or preference pairs, as ``results.json`` counts them."""
        ...

    def settings_record(self) -> dict[str, Any]:
        """The settings as ``results.json`` records them."""
        ...

    def manifest(self, model: Any) -> dict[str, Any]:
        """The run's ``run.json``: the kind, the model, the settings and the digests of its items."""
        ...

    def start(self, out: Path, manifest: dict[str, Any]) -> str | None:
        """Checks made under the lock before ``run.json`` is written; the checkpoint to resume from.

        Raises:
            InputError: If the run cannot start in ``out`` (e.g. a resume of another run).
        """
        ...

    def train(self, model: Any, tokenizer: Any, out: Path, checkpoint: str | None) -> TrainedModel:
        """Trains ``model`` (from ``checkpoint``, if any) and returns it with what the results record."""
        ...


def run_training(
    procedure: TrainingProcedure,
    model: Any,
    tokenizer: Any,
    out: Path,
    evaluation: EvaluationItems,
    *,
    save_model: bool,
) -> tuple[Any, TrainingResults]:
    """Runs ``procedure`` on ``model`` into ``out`` and returns the trained model and the run's results.

    Args:
        procedure: What this kind of run brings (manifest, start checks, training).
        model: A causal LM (trained in place).
        tokenizer: Its tokenizer.
        out: The run directory (``run.json``, ``results.json``, ``model/``, ``checkpoints/``).
        evaluation: Items evaluated before and after training (none: both rows are left out).
        save_model: Save the trained model with its tokenizer as ``out/model``.

    Raises:
        InputError: From ``procedure.start`` (resume checks), or if another process holds ``out``.
    """
    manifest = procedure.manifest(model)
    main = process_rank()[0] == 0
    with output_lock(out, f"llmcal {procedure.kind}", main=main):
        checkpoint = procedure.start(out, manifest)
        if main:  # under a launcher, the main process writes
            write_manifest(out, manifest)
        before = evaluation.row(model, tokenizer)
        torch.manual_seed(procedure.seed)
        trained = procedure.train(model, tokenizer, out, checkpoint)
        trained.model.eval()
        # Under accelerate/torchrun every process holds the same trained weights; one evaluates and writes.
        after = evaluation.row(trained.model, tokenizer) if trained.main_process else None
        results = TrainingResults(
            kind=procedure.kind,
            settings=procedure.settings_record(),
            n_examples=procedure.n_examples,
            train_loss=trained.train_loss,
            log=trained.log,
            main_process=trained.main_process,
            before=before,
            after=after,
            metric_binning=CALIBRATION_ROW_BINNING if before is not None else None,
            **trained.details,
        )
        if trained.main_process:
            save_training_outputs(out, results, trained.model, tokenizer if save_model else None)
        return trained.model, results


def save_training_outputs(out: Path, results: TrainingResults, trained: Any, tokenizer: Any | None) -> None:
    """Writes ``results.json`` and, given a tokenizer, the trained model (LoRA merged) as ``out/model``."""
    if tokenizer is not None:

        def save(folder: Path) -> None:
            trained.save_pretrained(folder, safe_serialization=True)
            tokenizer.save_pretrained(folder)

        write_directory_atomic(out / "model", save)  # never a half-written model/ after a kill
    write_training_results(out, results)


def quiet_trainer(trainer: Any, *, show_progress: bool) -> None:
    """Without ``show_progress``, removes a ``transformers.Trainer``'s progress bar and its log printer.

    The printer would print every log dict once the bar is off.
    """
    if not show_progress:
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
