"""Preference alignment with TRL's ``DPOTrainer``: what turns a pretrained model into an "aligned" one.

Preference pairs come from multiple-choice items (the prompt the scorer uses, the gold option as
``chosen``, a wrong option as ``rejected``) or from a JSONL file of ``{"prompt", "chosen", "rejected"}``.
In the knowledge world this produces the aligned model whose calibration ``llmcal compare`` measures
against the pretrained one (Oh & Hwang, 2024) and which CFT / RCFT then try to restore (Xiao et al.).
"""

from __future__ import annotations

import copy
import json
import os
import random
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from llmcal.distributed import process_rank
from llmcal.errors import InputError
from llmcal.finetune.run import evaluate_model, save_training_outputs
from llmcal.finetune.settings import AlignSettings
from llmcal.jsonl import read_jsonl
from llmcal.locking import output_lock
from llmcal.metrics.summary import CALIBRATION_ROW_BINNING, calibration_row
from llmcal.runs.manifest import as_json, build_manifest, write_manifest
from llmcal.runs.training import TrainingResults
from llmcal.scoring.fingerprint import model_fingerprint
from llmcal.scoring.hf import context_length
from llmcal.tasks.loading import load_items
from llmcal.tasks.prompts import PromptFormat, option_pairs
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
ALIGNMENT_LOSSES = {"dpo": "sigmoid", "ipo": "ipo"}

RejectedChoice = Literal["random", "all"]


@dataclass(frozen=True)
class PreferencePair:
    """One preference: ``prompt + chosen`` is preferred to ``prompt + rejected``."""

    prompt: str
    chosen: str
    rejected: str


def preference_pairs_from_items(
    items: Sequence[MCItem],
    *,
    format: PromptFormat = "cloze",
    style: ClozeStyle = "qa",
    rejected: RejectedChoice = "random",
    seed: int = 0,
) -> list[PreferencePair]:
    """Preference pairs from MC items: chosen = the gold option, rejected = a wrong one.

    The prompt and continuations are exactly what the scorer uses for ``format`` and ``style``, so the
    preference is learnt on the same strings the evaluation reads confidences from.

    Args:
        items: Items with gold answers.
        format: ``cloze`` (option texts) or ``letters`` (option letters).
        style: Cloze style of the items.
        rejected: ``random``: one wrong option per item, drawn with ``seed``; ``all``: one pair per wrong
            option.
        seed: Seed of the ``random`` draw (per item, so a pair does not depend on the other items).

    Raises:
        InputError: If an item has a single option, or uses ``partial`` style (options differ in the
            context there, so there is no shared prompt).
    """
    if style == "partial" and format == "cloze":
        raise InputError("Preference pairs need a prompt shared by the options; `partial` style has none.")
    pairs: list[PreferencePair] = []
    for item in items:
        if len(item.choices) < 2:
            raise InputError(f"item {item.id!r}: a preference pair needs at least two options.")
        options = option_pairs(item, format=format, style=style)
        prompt, chosen = options[item.answer]
        wrong = [continuation for index, (_, continuation) in enumerate(options) if index != item.answer]
        if rejected == "random":
            wrong = [random.Random(f"{seed}:{item.id}").choice(wrong)]
        pairs.extend(PreferencePair(prompt, chosen, continuation) for continuation in wrong)
    return pairs


def read_preference_pairs(path: str | Path) -> list[PreferencePair]:
    """Reads ``{"prompt": str, "chosen": str, "rejected": str}`` lines from a JSONL file.

    Raises:
        InputError: Naming ``file:line`` and the field, for a missing file, bad JSON or a bad field.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: no such preference file (expected JSONL with prompt/chosen/rejected).")
    pairs: list[PreferencePair] = []
    for line_number, record in read_jsonl(source):
        where = f"{source}:{line_number}"
        if not isinstance(record, dict):
            raise InputError(f"{where}: expected a JSON object with prompt, chosen and rejected.")
        fields = []
        for name in ("prompt", "chosen", "rejected"):
            value = record.get(name)
            if not isinstance(value, str) or (name != "prompt" and not value):
                raise InputError(f"{where}: field {name!r} must be a non-empty string; got {value!r}.")
            fields.append(value)
        if fields[1] == fields[2]:
            raise InputError(f"{where}: 'chosen' and 'rejected' are the same text; nothing to prefer.")
        pairs.append(PreferencePair(*fields))
    if not pairs:
        raise InputError(f"{source}: no preference pairs in the file.")
    return pairs


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
    """
    if settings.loss not in ALIGNMENT_LOSSES:
        raise InputError(f"--method must be one of {', '.join(ALIGNMENT_LOSSES)}; got {settings.loss!r}.")
    if not pairs:
        raise InputError("No preference pairs to align on.")
    if settings.epochs < 1 or settings.batch_size < 1 or settings.learning_rate <= 0 or settings.beta <= 0:
        raise InputError("epochs, batch size, learning rate and beta must be positive.")
    if tokenizer.eos_token is None:
        raise InputError("The tokenizer has no EOS token; TRL's DPOTrainer ends each completion with one.")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer  # type: ignore[attr-defined]

    out = Path(out_dir)
    settings_json = as_json(settings.record())
    manifest = build_manifest(
        "align",
        model={
            "name": str(getattr(model.config, "_name_or_path", "")),
            "fingerprint": model_fingerprint(model),
        },
        settings=settings_json,
        tasks={"pairs": [_PairId(pair) for pair in pairs], "eval": eval_items},
    )
    with output_lock(out, "llmcal align", main=process_rank()[0] == 0):
        if process_rank()[0] == 0:  # under a launcher, the main process writes
            write_manifest(out, manifest)
        before = None
        if eval_items:
            before = calibration_row(
                *evaluate_model(model, tokenizer, eval_items, format=format, style=style)
            )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        torch.manual_seed(settings.seed)
        peft_config = None if settings.lora is None else settings.lora.peft_config()
        reference = None
        if settings.lora is None:
            # A frozen copy of the starting point, rather than TRL reloading it from config.name_or_path
            # (which an in-memory or already-modified model does not have).
            reference = copy.deepcopy(model).eval()
        max_length = context_length(model.config)
        from datasets import disable_progress_bars, enable_progress_bars, is_progress_bar_enabled

        bars_were_on = is_progress_bar_enabled()
        if not show_progress:
            disable_progress_bars()  # TRL's dataset preparation draws a bar per step otherwise
        try:
            with warnings.catch_warnings():
                # TRL toggles gradient checkpointing by names transformers deprecated: not the user's concern.
                warnings.filterwarnings("ignore", message=".*checkpointing", category=FutureWarning)
                arguments = DPOConfig(
                    output_dir=str(out / "checkpoints"),
                    loss_type=[ALIGNMENT_LOSSES[settings.loss]],
                    beta=settings.beta,
                    per_device_train_batch_size=settings.batch_size,
                    num_train_epochs=settings.epochs,
                    learning_rate=settings.learning_rate,
                    lr_scheduler_type="cosine",
                    max_length=max_length,
                    logging_strategy="epoch",
                    save_strategy="no",
                    report_to="none",
                    seed=settings.seed,
                    data_seed=settings.seed,
                    disable_tqdm=not show_progress,
                    use_cpu=not torch.cuda.is_available(),
                    # TRL defaults to bf16 autocast, also on CPU; keep float32 there so confidences measured
                    # after alignment are not bf16 noise.
                    bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
                    dataloader_num_workers=0,
                    # TRL turns activation checkpointing on by default. It only trades compute for memory
                    # these models do not need, and it stays switched on in the returned model, where with
                    # frozen base weights (a LoRA fine-tuning after alignment) no gradient reaches the
                    # adapters.
                    gradient_checkpointing=False,
                )
                trainer = DPOTrainer(
                    model=model,
                    ref_model=reference,
                    args=arguments,
                    train_dataset=Dataset.from_list([asdict(pair) for pair in pairs]),
                    processing_class=tokenizer,
                    peft_config=peft_config,
                )
                if not show_progress:
                    from transformers.trainer_callback import PrinterCallback, ProgressCallback

                    trainer.remove_callback(PrinterCallback)
                    trainer.remove_callback(ProgressCallback)
                output = trainer.train()
        finally:
            if bars_were_on:
                enable_progress_bars()
        # Without accelerate's mixed-precision wrapper around forward, the model scores like a freshly
        # loaded one.
        tuned: Any = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
        trained = tuned.merge_and_unload() if settings.lora is not None else tuned
        # The unwrapping leaves `forward` as an instance attribute: the class's function stripped of its
        # decorators (transformers' input and output handling). Under a LoRA adapter added later (CFT,
        # RCFT) that forward cut the graph, and no gradient reached the adapter; the class's own forward
        # is the model.
        vars(trained).pop("forward", None)
        trained.eval()
        log: list[dict[str, Any]] = [
            {
                key: entry[key]
                for key in ("epoch", "loss", "rewards/accuracies", "rewards/margins")
                if key in entry
            }
            for entry in trainer.state.log_history
            if "loss" in entry
        ]
        main_process = bool(trainer.is_world_process_zero())
        after = None
        if main_process and eval_items:
            after = calibration_row(
                *evaluate_model(trained, tokenizer, eval_items, format=format, style=style)
            )
        results = TrainingResults(
            kind="align",
            settings=settings_json,
            n_examples=len(pairs),
            train_loss=float(output.training_loss),
            log=log,
            main_process=main_process,
            before=before,
            after=after,
            metric_binning=CALIBRATION_ROW_BINNING if before is not None else None,
        )
        if main_process:
            save_training_outputs(out, results, trained, tokenizer if save_model else None)
        return trained, results


@dataclass(frozen=True)
class _PairId:
    """A preference pair under the id its manifest digest uses: its prompt and both completions."""

    pair: PreferencePair

    @property
    def id(self) -> str:
        return json.dumps([self.pair.prompt, self.pair.chosen, self.pair.rejected])


def load_preference_pairs(
    path: Path,
    *,
    format: PromptFormat = "cloze",
    style: ClozeStyle = "qa",
    rejected: RejectedChoice = "random",
    seed: int = 0,
) -> list[PreferencePair]:
    """Preference pairs from a pairs file (JSONL whose first record has ``chosen``) or from MC items.

    Raises:
        InputError: For an unreadable file or a malformed record (with its ``file:line``).
    """
    if _is_preference_file(path):
        return read_preference_pairs(path)
    return preference_pairs_from_items(
        load_items(path), format=format, style=style, rejected=rejected, seed=seed
    )


def _is_preference_file(path: Path) -> bool:
    """Whether ``path`` is a JSONL file of preference pairs (its first record has ``chosen``)."""
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    for _, record in read_jsonl(path):  # a bad first line is reported here, with its file:line
        return isinstance(record, dict) and "chosen" in record
    return False


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
