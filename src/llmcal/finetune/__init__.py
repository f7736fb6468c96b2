"""Calibration-aware fine-tuning: losses over option scores, packed training examples, a thin Trainer.

Its modules import torch and transformers, except :mod:`llmcal.finetune.settings` (so the command line can
read the settings' defaults without them); nothing in the numpy-only core imports this package. Losses are
plug-ins: :data:`llmcal.finetune.losses.LOSSES` maps each name to a
:class:`~llmcal.finetune.losses.LossPlugin`.
"""
