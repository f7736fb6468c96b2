"""The preference-alignment losses by name (``dpo``, ``ipo``), declared without importing torch or TRL.

:data:`ALIGNMENT_LOSSES` maps each name to an :class:`AlignmentLoss`: the ``loss_type`` TRL's
``DPOConfig`` runs it with, and a one-line summary for ``llmcal align --help``. Both losses take one
hyperparameter, ``AlignSettings.beta``. :func:`check_alignment_loss` is the one check of a name, made by
``AlignSettings`` when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmcal.errors import InputError
from llmcal.registry import Registry

__all__ = ["ALIGNMENT_LOSSES", "AlignmentLoss", "check_alignment_loss"]


@dataclass(frozen=True)
class AlignmentLoss:
    """A registered alignment loss.

    Attributes:
        trl_loss_type: TRL's name for it (``DPOConfig.loss_type``).
        summary: One line saying what it is, for ``llmcal align --help``.
    """

    trl_loss_type: str
    summary: str = ""


ALIGNMENT_LOSSES: Registry[AlignmentLoss] = Registry("alignment loss")
ALIGNMENT_LOSSES.add("dpo", AlignmentLoss("sigmoid", "sigmoid loss (Rafailov et al.)"))
ALIGNMENT_LOSSES.add("ipo", AlignmentLoss("ipo", "identity loss (Azar et al.)"))


def check_alignment_loss(loss: str) -> None:
    """Checks that ``loss`` names a registered alignment loss.

    Raises:
        InputError: If it does not, listing those that are (about the parameter ``loss``).

    Examples:
        >>> check_alignment_loss("ppo")
        Traceback (most recent call last):
        ...
        llmcal.errors.InputError: `loss` must be one of dpo, ipo; got 'ppo'.
    """
    if loss not in ALIGNMENT_LOSSES:
        raise InputError(
            f"`loss` must be one of {', '.join(ALIGNMENT_LOSSES.names())}; got {loss!r}.", parameter="loss"
        )
