"""What the knowledge-world demo runs: its fine-tuning variants, training schedules and settings.

:func:`llmcal.demo.knowledge_world.run_demo` reads a :class:`DemoSettings`; the presets' schedules and
the variants it fine-tunes are data here, apart from the recipe that runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcal.demo.real_model import RealModelStory

__all__ = ["SCHEDULES", "VARIANTS", "DemoSchedule", "DemoSettings", "Variant"]


@dataclass(frozen=True)
class Variant:
    """A fine-tuning variant of the demo: a loss, its strength, and which training items it sees."""

    name: str
    loss: str
    training_items: str = "all"  # all | known | unknown (by whether the person's facts were in pretraining)
    smoothing: float = 0.0
    alpha: float = 0.0
    rcft_scale: float = 1e-3  # RCFT's constant c in (1 - a) L_SFT + a c L_cal; the authors' 1e-3
    start: str = "pretrained"  # pretrained | aligned: the model fine-tuning starts from

    def loss_configs(self) -> tuple[Any, ...]:
        """The loss settings this variant trains with (each loss reads the one of its own type)."""
        from llmcal.finetune.losses import (
            CogCalibConfig,
            LabelSmoothingConfig,
            MarginCogCalibConfig,
            RcftConfig,
        )

        return (
            LabelSmoothingConfig(smoothing=self.smoothing),
            CogCalibConfig(alpha=self.alpha),
            MarginCogCalibConfig(alpha=self.alpha),
            RcftConfig(rcft_scale=self.rcft_scale),
        )


# Strengths follow the prototype that found this regime (6 epochs at lr 1e-3, full fine-tuning).
VARIANTS = (
    Variant("sft", "sft"),
    Variant("ls 0.3", "ls", smoothing=0.3),
    Variant("cogcalib-ls 0.3", "cogcalib-ls", alpha=0.3),
    Variant("cogcalib-ecp 0.5", "cogcalib-ecp", alpha=0.5),
    Variant("known-only sft", "sft", training_items="known"),
    Variant("unknown-only sft", "sft", training_items="unknown"),
    Variant("aligned + cft", "cft", start="aligned"),
    Variant("aligned + rcft", "rcft", start="aligned"),
    # The authors' c = 1e-3 leaves RCFT indistinguishable from CFT here; 1e4 times that is where it bites.
    Variant("aligned + rcft c=10", "rcft", start="aligned", rcft_scale=10.0),
)


@dataclass(frozen=True)
class DemoSchedule:
    """How long the demo trains after pretraining, and how many bootstrap resamples it draws.

    Attributes:
        epochs: Fine-tuning epochs of every variant (full fine-tuning, batch 32).
        learning_rate: Their peak learning rate.
        dpo_epochs: Epochs of the DPO alignment (learning rate 5e-4, beta 0.1, batch 32).
        n_resamples: Bootstrap resamples of every interval.
    """

    epochs: int = 6
    learning_rate: float = 1e-3
    dpo_epochs: int = 3
    n_resamples: int = 1000


# The default schedule follows the prototype that found this regime (6 epochs at lr 1e-3). The quick one
# halves the fine-tuning steps at twice the learning rate, aligns for 2 epochs, and draws 200 resamples.
SCHEDULES = {
    "micro": DemoSchedule(),
    "quick": DemoSchedule(epochs=3, learning_rate=2e-3, dpo_epochs=2, n_resamples=200),
    "default": DemoSchedule(),
}


@dataclass(frozen=True)
class DemoSettings:
    """What one demo run does.

    Attributes:
        preset_name: World preset (``quick`` or ``default``; ``micro`` for tests).
        seed: World and model seed.
        cache_dir: Where worlds are cached (default :func:`llmcal.cache.cache_dir`).
        n_resamples: Bootstrap resamples of the evaluation results (default: the preset's
            :data:`SCHEDULES` entry).
        variants: Fine-tuning variants to run (empty: measure and post-hoc calibrate only).
        align: Whether to align the pretrained model with DPO and compare the two (needed by variants
            that start from the aligned model).
        real_model: Also run the real-model part (:mod:`llmcal.demo.real_model`) into ``out/real-model``.
    """

    preset_name: str = "default"
    seed: int = 0
    cache_dir: Path | None = None
    n_resamples: int | None = None
    variants: Sequence[Variant] = VARIANTS
    align: bool = True
    real_model: RealModelStory | None = None

    @property
    def schedule(self) -> DemoSchedule:
        """The preset's training schedule (:data:`SCHEDULES`; the default one for other presets)."""
        return SCHEDULES.get(self.preset_name, DemoSchedule())

    @property
    def resamples(self) -> int:
        """Bootstrap resamples: :attr:`n_resamples`, else the schedule's."""
        return self.schedule.n_resamples if self.n_resamples is None else self.n_resamples
