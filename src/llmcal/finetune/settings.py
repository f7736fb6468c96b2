"""How a model is fine-tuned or aligned: :class:`FinetuneSettings`, :class:`AlignSettings`, LoRA.

Torch-free (the loss registries it checks names against are declared without torch), so the
``llmcal finetune`` and ``llmcal align`` commands take their option defaults from here without loading
torch for ``--help``. How the files record these settings is :mod:`llmcal.runs.training_settings`'s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from llmcal.errors import InputError
from llmcal.finetune.alignment_losses import check_alignment_loss
from llmcal.finetune.loss_registry import LOSSES, config_types
from llmcal.runs.training_settings import align_settings_record, finetune_settings_record
from llmcal.tasks.prompts import PromptFormat
from llmcal.tasks.spec import ClozeStyle

__all__ = ["AlignSettings", "FinetuneSettings", "LoraSettings"]


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
        loss: Loss name (see :data:`llmcal.finetune.loss_registry.LOSSES`); recorded as ``"method"``.
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
        LOSSES.get(self.loss)
        accepted = set(config_types())
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

        The layout is :func:`llmcal.runs.training_settings.finetune_settings_record`'s: the loss name under
        ``"method"``, and under ``"loss"`` every registered loss's hyperparameters as one flat object.
        """
        # Configs are typed `object` (any registered loss's dataclass), which asdict's overloads do not take.
        return finetune_settings_record(
            asdict(self),
            [asdict(self.config_of(name)) for name in LOSSES],  # type: ignore[call-overload]
            running=asdict(self.loss_config),  # type: ignore[call-overload]
        )


@dataclass(frozen=True)
class AlignSettings:
    """How a model is aligned.

    Attributes:
        loss: An alignment loss (:data:`llmcal.finetune.alignment_losses.ALIGNMENT_LOSSES`): ``dpo``
            (sigmoid loss, Rafailov et al. 2023) or ``ipo`` (Azar et al. 2023); recorded as ``"method"``.
        beta: Strength of the pull towards the reference model (TRL's ``beta``).
        epochs: Passes over the pairs.
        learning_rate: Peak learning rate (cosine decay).
        batch_size: Pairs per step.
        lora: LoRA settings (the adapter-disabled model is the reference), or ``None`` for full
            fine-tuning against a frozen copy.
        seed: Training seed.

    Raises:
        InputError: If ``loss`` is not a registered alignment loss.
    """

    loss: str = "dpo"
    beta: float = 0.1
    epochs: int = 3
    learning_rate: float = 5e-6
    batch_size: int = 8
    lora: LoraSettings | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        check_alignment_loss(self.loss)

    def record(self) -> dict[str, Any]:
        """The settings as ``results.json`` (and the demo's ``demo.json``) record them, never renamed.

        The layout is :func:`llmcal.runs.training_settings.align_settings_record`'s.
        """
        return align_settings_record(asdict(self))
