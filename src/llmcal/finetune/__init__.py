"""Calibration-aware fine-tuning: losses over option scores, packed training examples, a thin Trainer.

Imports torch and transformers; nothing in the numpy-only core imports this package.
"""

from __future__ import annotations

from llmcal.finetune.losses import LOSSES, BinStatistics, LossConfig, LossInputs

__all__ = ["LOSSES", "BinStatistics", "LossConfig", "LossInputs"]
