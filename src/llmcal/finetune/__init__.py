"""Calibration-aware fine-tuning: losses over option scores, packed training examples, a thin Trainer.

Its modules import torch and transformers, except :mod:`llmcal.finetune.settings` (so the command line can
read the settings' defaults without them); nothing in the numpy-only core imports this package. Losses are
plug-ins: :data:`llmcal.finetune.losses.LOSSES` maps each name to a
:class:`~llmcal.finetune.losses.LossPlugin`.

A training command (``finetune``, ``align``) is one :func:`~llmcal.finetune.training_run.run_training`
sequence (lock, ``run.json``, evaluation before and after, ``results.json``, ``model/``) around what is its
own, a :class:`~llmcal.finetune.training_run.TrainingProcedure`:
:class:`~llmcal.finetune.finetune_procedure.FinetuneProcedure` or alignment's DPO in
:mod:`llmcal.finetune.alignment`.
"""
