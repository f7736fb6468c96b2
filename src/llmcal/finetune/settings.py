"""How a model is fine-tuned or aligned: :class:`FinetuneSettings`, :class:`AlignSettings`, LoRA.

Torch-free at import (the loss registry is imported only when a setting is checked or recorded), so the
``llmcal finetune`` command can take its option defaults from here without loading torch for ``--help``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

from llmcal.errors import InputError
from llmcal.tasks.prompts import PromptFormat
from llmcal.tasks.spec import ClozeStyle

__all__ = ["AlignSettings", "FinetuneSettings", "LoraSettings"]

# Python names that differ from the keys results.json and run.json have always used for them: the files
# are compared byte for byte across versions, so renaming in code must not rename on disk.
_RECORD_KEYS = {"loss": "method", "loss_configs": "loss"}

# The hyperparameters of every loss used to share one config that also held RCFT's E-step bins (always
# null in settings; the bins are computed during training). The recorded object keeps that key, here.
_RECORDED_NULL_KEY, _RECORDED_AFTER = "bins", "rcft_scale"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings (``peft``)."""

    rank: int = 8
    alpha: int = 16
    target_modules: tuple[str, ...] = ()  # empty: peft's default for the architecture

    def peft_config(self) -> Any:
        """The ``peft.LoraConfig`` for a causal LM."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            target_modules=list(self.target_modules) or None,
            task_type="CAUSAL_LM",
        )


@dataclass(frozen=True)
class FinetuneSettings:
    """How a model is fine-tuned; the defaults are also the ``llmcal finetune`` option defaults.

    Attributes:
        loss: Loss name (see :data:`llmcal.finetune.losses.LOSSES`); recorded as ``"method"``.
        epochs: Passes over the training items.
        learning_rate: Peak learning rate (5% warm-up, cosine decay).
        batch_size: Items per step.
        lora: LoRA settings, or ``None`` for full fine-tuning.
        loss_configs: Hyperparameter configs, at most one per config type (e.g.
            ``LabelSmoothingConfig(0.2)``); a loss whose config type is missing runs with its defaults.
            Configs of other losses are allowed (a command line sets every loss's options) and recorded.
        format: Prompt format (``cloze`` scores option texts, ``letters`` the letters).
        style: Cloze style of the items.
        refresh_every_epoch: Re-fit the known/unknown threshold and re-run the loss's epoch hook (RCFT's
            E-step) every epoch; else only before the first.
        checkpoints: Save a Trainer checkpoint (model, optimizer, scheduler) at the end of every epoch
            under ``out/checkpoints``, keeping the last two.
        style_adaptation_items: If > 0, one SFT epoch on this many training items first (CogCalib's
            "style adaptation"), so the detector's NLL is not confounded by an unfamiliar answer format.
        seed: Training seed (data order, LoRA init).

    Raises:
        InputError: If ``loss`` is not registered (the message suggests close names), or ``loss_configs``
            holds something no registered loss takes, or two configs of one type.
    """

    loss: str = "sft"
    epochs: int = 3
    learning_rate: float = 1e-4
    batch_size: int = 8
    lora: LoraSettings | None = None
    loss_configs: tuple[object, ...] = ()
    format: PromptFormat = "cloze"
    style: ClozeStyle = "qa"
    refresh_every_epoch: bool = True
    style_adaptation_items: int = 0
    checkpoints: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        from llmcal.finetune.losses import LOSSES

        LOSSES.get(self.loss)
        accepted = {LOSSES.get(name).config_type for name in LOSSES}
        seen: set[type] = set()
        for index, config in enumerate(self.loss_configs):
            if type(config) not in accepted:
                names = ", ".join(sorted(kind.__name__ for kind in accepted))
                raise InputError(
                    f"FinetuneSettings.loss_configs[{index}] is a {type(config).__name__}, which no "
                    f"registered loss takes; expected one of {names}."
                )
            if type(config) in seen:
                raise InputError(
                    f"FinetuneSettings.loss_configs has two {type(config).__name__}s; pass one per type."
                )
            seen.add(type(config))

    def config_of(self, loss: str) -> object:
        """The hyperparameters ``loss`` runs with: its config from :attr:`loss_configs`, else its defaults.

        Raises:
            InputError: If ``loss`` is not registered.
        """
        from llmcal.finetune.losses import LOSSES

        config_type = LOSSES.get(loss).config_type
        for config in self.loss_configs:
            if type(config) is config_type:
                return config
        return config_type()

    @property
    def loss_config(self) -> object:
        """The hyperparameters of :attr:`loss`."""
        return self.config_of(self.loss)

    def record(self) -> dict[str, Any]:
        """The settings as ``results.json`` and ``run.json`` record them, unchanged across versions.

        The loss name is recorded as ``"method"`` and the hyperparameters under ``"loss"`` as one flat
        object: every registered loss's config fields, in registration order of their first appearance,
        with ``"bins": null`` after ``"rcft_scale"``. A field several configs share (the CogCalib
        ``alpha``) takes the running loss's value, or else that of the first registered loss with it.
        """
        record: dict[str, Any] = {}
        for setting in fields(self):
            value = getattr(self, setting.name)
            if setting.name == "loss_configs":
                value = self._hyperparameter_record()
            elif is_dataclass(value) and not isinstance(value, type):
                value = asdict(value)
            record[_RECORD_KEYS.get(setting.name, setting.name)] = value
        return record

    def _hyperparameter_record(self) -> dict[str, Any]:
        from llmcal.finetune.losses import LOSSES

        running = asdict(self.loss_config)  # type: ignore[call-overload]
        record: dict[str, Any] = {}
        for name in LOSSES:
            for key, value in asdict(self.config_of(name)).items():  # type: ignore[call-overload]
                if key not in record:
                    record[key] = running.get(key, value)
                if key == _RECORDED_AFTER:
                    record[_RECORDED_NULL_KEY] = None
        return record


@dataclass(frozen=True)
class AlignSettings:
    """How a model is aligned.

    Attributes:
        loss: ``dpo`` (sigmoid loss, Rafailov et al. 2023) or ``ipo`` (Azar et al. 2023); recorded as
            ``"method"`` (see :meth:`record`).
        beta: Strength of the pull towards the reference model (TRL's ``beta``).
        epochs: Passes over the pairs.
        learning_rate: Peak learning rate (cosine decay).
        batch_size: Pairs per step.
        lora: LoRA settings (the adapter-disabled model is the reference), or ``None`` for full
            fine-tuning against a frozen copy.
        seed: Training seed.
    """

    loss: str = "dpo"
    beta: float = 0.1
    epochs: int = 3
    learning_rate: float = 5e-6
    batch_size: int = 8
    lora: LoraSettings | None = None
    seed: int = 0

    def record(self) -> dict[str, Any]:
        """The settings as ``results.json`` (and the demo's ``demo.json``) record them.

        The loss is recorded under ``"method"``, its key since before the Python name changed, so the files
        stay byte-identical across versions.
        """
        return {("method" if key == "loss" else key): value for key, value in asdict(self).items()}
