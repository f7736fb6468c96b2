"""Preference alignment with TRL's ``DPOTrainer``: what turns a pretrained model into an "aligned" one.

Preference pairs (:mod:`llmcal.finetune.preference_pairs`, whose names this module also exports) come from
multiple-choice items (the prompt the scorer uses, the gold option as ``chosen``, a wrong option as
``rejected``) or from a JSONL file of ``{"prompt", "chosen", "rejected"}``. The run's sequence is
:func:`llmcal.finetune.training_run.run_training`'s; this module brings alignment's own part: the checks,
the reference model and TRL's trainer.
In the knowledge world this produces the aligned model whose calibration ``llmcal compare`` measures
against the pretrained one (Oh & Hwang, 2024) and which CFT / RCFT then try to restore (Xiao et al.).
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from llmcal.errors import InputError
from llmcal.finetune.alignment_losses import ALIGNMENT_LOSSES
from llmcal.finetune.model_evaluation import EvaluationItems
from llmcal.finetune.preference_pairs import (
    PreferencePair,
    RejectedChoice,
    load_preference_pairs,
    preference_pairs_from_items,
    read_preference_pairs,
)
from llmcal.finetune.settings import AlignSettings
from llmcal.finetune.training_run import TrainedModel, quiet_trainer, run_training
from llmcal.runs.manifest import as_json, build_manifest, composite_id
from llmcal.runs.training import TrainingKind, TrainingResults
from llmcal.scoring.fingerprint import model_fingerprint
from llmcal.scoring.hf import context_length
from llmcal.tasks.prompts import PromptFormat
from llmcal.tasks.schema import MCItem
from llmcal.tasks.spec import ClozeStyle

__all__ = [
    "ALIGNMENT_LOSSES",
    "PreferencePair",
    "RejectedChoice",
    "align",
    "align_named_model",
    "load_preference_pairs",
    "preference_pairs_from_items",
    "read_preference_pairs",
]

# llmcal alignment loss name -> TRL ``DPOConfig.loss_type``.


def align(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[PreferencePair],
    settings: AlignSettings,
    out_dir: str | Path,
    *,
    eval_items: Sequence[MCItem] = (),
    format: PromptFormat = "cloze",
    style: ClozeStyle = "qa",
    save_model: bool = True,
    show_progress: bool = False,
) -> tuple[Any, TrainingResults]:
    """Aligns ``model`` on preference ``pairs`` with TRL's ``DPOTrainer`` and returns it with the results.

    ``out/run.json`` records the model, settings and pairs; ``out/results.json`` the results
    (:mod:`llmcal.runs.training`).

    Args:
        model: A causal LM (trained in place).
        tokenizer: Its tokenizer; it needs an EOS token (TRL ends every completion with it).
        pairs: Preference pairs.
        settings: Loss and hyperparameters.
        out_dir: Where ``results.json`` and, with ``save_model``, ``model/`` are written.
        eval_items: Items whose accuracy, ECE, SCE and Brier are measured before and after.
        format: Prompt format of ``eval_items``.
        style: Cloze style of ``eval_items``.
        save_model: Save the aligned model (LoRA merged) as a standard HF directory.
        show_progress: Show the Trainer's progress bar.

    Raises:
        InputError: For an unknown loss, no pairs, a tokenizer without EOS, or bad hyperparameters.

    Why it is long: a public entry point whose inputs after the first five are optional keywords, each
    defaulting to "not used"; an object holding them would lengthen every call that sets one and shorten
    none. The work itself is the :func:`~llmcal.finetune.training_run.run_training` skeleton.
    """
    if not pairs:
        raise InputError("No preference pairs to align on.")
    if settings.epochs < 1 or settings.batch_size < 1 or settings.learning_rate <= 0 or settings.beta <= 0:
        raise InputError("epochs, batch size, learning rate and beta must be positive.")
    if tokenizer.eos_token is None:
        raise InputError("The tokenizer has no EOS token; TRL's DPOTrainer ends each completion with one.")
    _dpo_classes()  # a TRL that cannot be imported fails here, before the run directory is locked
    procedure = _Alignment(settings, pairs, eval_items, show_progress=show_progress)
    evaluation = EvaluationItems(eval_items, format=format, style=style)
    return run_training(procedure, model, tokenizer, Path(out_dir), evaluation, save_model=save_model)


@dataclass(frozen=True)
class _Alignment:
    """Alignment's part of a training run (:class:`~llmcal.finetune.training_run.TrainingProcedure`)."""

    settings: AlignSettings
    pairs: Sequence[PreferencePair]
    eval_items: Sequence[MCItem]
    show_progress: bool

    @property
    def kind(self) -> TrainingKind:
        """``align``."""
        return "align"

    @property
    def seed(self) -> int:
        """The settings' training seed."""
        return self.settings.seed

    @property
    def n_examples(self) -> int:
        """Preference pairs."""
        return len(self.pairs)

    def settings_record(self) -> dict[str, Any]:
        """The settings in their JSON form (tuples as lists), as ``run.json`` and ``results.json`` hold it."""
        record: dict[str, Any] = as_json(self.settings.record())
        return record

    def manifest(self, model: Any) -> dict[str, Any]:
        """``run.json``: the model, the settings, the pairs and the evaluation items."""
        return build_manifest(
            "align",
            model={
                "name": str(getattr(model.config, "_name_or_path", "")),
                "fingerprint": model_fingerprint(model),
            },
            settings=self.settings_record(),
            tasks={"pairs": [_PairId(pair) for pair in self.pairs], "eval": self.eval_items},
        )

    def start(self, out: Path, manifest: dict[str, Any]) -> str | None:
        """No resume: an alignment run always starts from the beginning."""
        return None

    def train(self, model: Any, tokenizer: Any, out: Path, checkpoint: str | None) -> TrainedModel:
        """DPO / IPO through TRL's ``DPOTrainer``, against a frozen copy or the adapter-disabled model."""
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        with _datasets_progress_bars(self.show_progress), warnings.catch_warnings():
            # TRL toggles gradient checkpointing by names transformers deprecated: not the user's concern.
            warnings.filterwarnings("ignore", message=".*checkpointing", category=FutureWarning)
            trainer = self._trainer(model, tokenizer, out)
            output = trainer.train()
        log = [
            {key: entry[key] for key in _LOGGED if key in entry}
            for entry in trainer.state.log_history
            if "loss" in entry
        ]
        return TrainedModel(
            model=_plain_model(trainer, merge_lora=self.settings.lora is not None),
            main_process=bool(trainer.is_world_process_zero()),
            train_loss=float(output.training_loss),
            log=log,
        )

    def _trainer(self, model: Any, tokenizer: Any, out: Path) -> Any:
        """TRL's ``DPOTrainer`` over the pairs, quiet unless progress is shown."""
        dataset_type, config_type, trainer_type = _dpo_classes()
        lora = self.settings.lora
        # Without LoRA, a frozen copy of the starting point is the reference, rather than TRL reloading it
        # from config.name_or_path (which an in-memory or already-modified model does not have).
        reference = copy.deepcopy(model).eval() if lora is None else None
        arguments = _dpo_arguments(
            self.settings, out, max_length=context_length(model.config), show_progress=self.show_progress
        )
        trainer = trainer_type(
            model=model,
            ref_model=reference,
            args=config_type(**arguments),
            train_dataset=dataset_type.from_list([asdict(pair) for pair in self.pairs]),
            processing_class=tokenizer,
            peft_config=None if lora is None else lora.peft_config(),
        )
        quiet_trainer(trainer, show_progress=self.show_progress)
        return trainer


# The entries of TRL's log that results.json keeps, per logged epoch.
_LOGGED = ("epoch", "loss", "rewards/accuracies", "rewards/margins")


def _dpo_classes() -> tuple[Any, Any, Any]:
    """``datasets.Dataset``, TRL's ``DPOConfig`` and ``DPOTrainer`` (TRL's experimental notice silenced)."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer  # type: ignore[attr-defined]

    return Dataset, DPOConfig, DPOTrainer


def _dpo_arguments(
    settings: AlignSettings, out: Path, *, max_length: int, show_progress: bool
) -> dict[str, Any]:
    """TRL's ``DPOConfig`` arguments of an alignment run; checkpoints are never saved."""
    return {
        "output_dir": str(out / "checkpoints"),
        "loss_type": [ALIGNMENT_LOSSES.get(settings.loss).trl_loss_type],
        "beta": settings.beta,
        "per_device_train_batch_size": settings.batch_size,
        "num_train_epochs": settings.epochs,
        "learning_rate": settings.learning_rate,
        "lr_scheduler_type": "cosine",
        "max_length": max_length,
        "logging_strategy": "epoch",
        "save_strategy": "no",
        "report_to": "none",
        "seed": settings.seed,
        "data_seed": settings.seed,
        "disable_tqdm": not show_progress,
        "use_cpu": not torch.cuda.is_available(),
        # TRL defaults to bf16 autocast, also on CPU; keep float32 there so confidences measured after
        # alignment are not bf16 noise.
        "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        "dataloader_num_workers": 0,
        # TRL turns activation checkpointing on by default. It only trades compute for memory these models
        # do not need, and it stays switched on in the returned model, where with frozen base weights (a
        # LoRA fine-tuning after alignment) no gradient reaches the adapters.
        "gradient_checkpointing": False,
    }


@contextmanager
def _datasets_progress_bars(show: bool) -> Iterator[None]:
    """Hides the ``datasets`` progress bars (TRL's dataset preparation draws one per step) unless ``show``."""
    from datasets import disable_progress_bars, enable_progress_bars, is_progress_bar_enabled

    bars_were_on = is_progress_bar_enabled()
    if not show:
        disable_progress_bars()
    try:
        yield
    finally:
        if bars_were_on:
            enable_progress_bars()


def _plain_model(trainer: Any, *, merge_lora: bool) -> Any:
    """The trained model as a freshly loaded one: unwrapped, LoRA merged, with its class's ``forward``."""
    # Without accelerate's mixed-precision wrapper around forward, the model scores like a freshly loaded
    # one.
    tuned: Any = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    trained = tuned.merge_and_unload() if merge_lora else tuned
    # The unwrapping leaves `forward` as an instance attribute: the class's function stripped of its
    # decorators (transformers' input and output handling). Under a LoRA adapter added later (CFT, RCFT)
    # that forward cut the graph, and no gradient reached the adapter; the class's own forward is the model.
    vars(trained).pop("forward", None)
    return trained


@dataclass(frozen=True)
class _PairId:
    """A preference pair under the id its manifest digest uses: its prompt and both completions."""

    pair: PreferencePair

    @property
    def id(self) -> str:
        return composite_id(self.pair.prompt, self.pair.chosen, self.pair.rejected)


def align_named_model(
    model: str,
    pairs: Sequence[PreferencePair],
    settings: AlignSettings,
    out_dir: str | Path,
    *,
    eval_items: Sequence[MCItem] = (),
    format: PromptFormat = "cloze",
    style: ClozeStyle = "qa",
    show_progress: bool = False,
) -> TrainingResults:
    """Loads ``model`` by name (float32, on the GPU when there is one) and runs :func:`align`.

    Returns:
        The run's results (as written to ``results.json`` by the main process).

    Raises:
        InputError: As :func:`align`.
    """
    from llmcal.scoring.hf import HFBackend

    backend = HFBackend(model, device="auto", dtype="float32")
    _, results = align(
        backend.model, backend.tokenizer, pairs, settings, out_dir, eval_items=eval_items, format=format,
        style=style, show_progress=show_progress,
    )  # fmt: skip
    return results
