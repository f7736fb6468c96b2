"""The hyperparameters of each fine-tuning loss family: torch-free dataclasses, one per family.

Each field is declared with :func:`~llmcal.finetune.hyperparameters.hyperparameter`: its default, and the
help text of the ``llmcal finetune`` option the command line builds from it. A field several families
share (the CogCalib ``alpha``) is one option setting all of them, so its declarations agree
(:func:`_cogcalib_alpha`). The range checks are each dataclass's own, for every caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmcal.errors import InputError
from llmcal.finetune.hyperparameters import hyperparameter

__all__ = [
    "RCFT_CALIBRATION_SCALE",
    "CogCalibConfig",
    "LabelSmoothingConfig",
    "MarginCogCalibConfig",
    "NoHyperparameters",
    "RcftConfig",
]

# Xiao et al.'s code scales the calibration term by 1e-3 on top of the mixing weight a; kept so the
# paper's a = 0.5 default means the same thing here.
RCFT_CALIBRATION_SCALE = 1e-3


def _cogcalib_alpha() -> float:
    # One declaration for the three CogCalib losses' `alpha`, which the command line sets with one option.
    return hyperparameter(0.1, help="CogCalib regulariser weight.")


def _check_alpha(owner: str, alpha: float) -> None:
    # Written as "not (inside)" so NaN fails every check.
    if not 0.0 <= alpha < math.inf:
        raise InputError(f"{owner}.alpha must be finite and >= 0; got {alpha}.", parameter="alpha")


@dataclass(frozen=True)
class NoHyperparameters:
    """Config of a loss that has no hyperparameters (``sft``, ``cft``)."""


@dataclass(frozen=True)
class LabelSmoothingConfig:
    """Hyperparameters of ``ls``.

    Attributes:
        smoothing: Label-smoothing epsilon, in [0, 1).

    Raises:
        InputError: If ``smoothing`` is out of range.
    """

    smoothing: float = hyperparameter(0.1, help="Label smoothing epsilon (ls).")

    def __post_init__(self) -> None:
        if not 0.0 <= self.smoothing < 1.0:
            raise InputError(
                f"LabelSmoothingConfig.smoothing must be in [0, 1); got {self.smoothing} (`smoothing`).",
                parameter="smoothing",
            )


@dataclass(frozen=True)
class CogCalibConfig:
    """Hyperparameters of ``cogcalib-ls`` and ``cogcalib-ecp``.

    Attributes:
        alpha: Weight of the CogCalib regulariser on known examples, >= 0.

    Raises:
        InputError: If ``alpha`` is negative, infinite or NaN.
    """

    alpha: float = _cogcalib_alpha()

    def __post_init__(self) -> None:
        _check_alpha("CogCalibConfig", self.alpha)


@dataclass(frozen=True)
class MarginCogCalibConfig:
    """Hyperparameters of ``cogcalib-mbls``.

    Attributes:
        alpha: Weight of the CogCalib regulariser on known examples, >= 0.
        margin: Margin ``m`` of margin-based label smoothing, >= 0; Liu et al.'s default 10.

    Raises:
        InputError: If a value is out of its range; the message names the field.
    """

    alpha: float = _cogcalib_alpha()
    margin: float = hyperparameter(10.0, help="MbLS margin.")

    def __post_init__(self) -> None:
        _check_alpha("MarginCogCalibConfig", self.alpha)
        if not 0.0 <= self.margin < math.inf:
            raise InputError(
                f"MarginCogCalibConfig.margin must be finite and >= 0; got {self.margin}.", parameter="margin"
            )


@dataclass(frozen=True)
class RcftConfig:
    """Hyperparameters of ``rcft``; the E-step's bin statistics are epoch state, not config.

    The field names keep their ``rcft_`` prefix: they are the ``--rcft-*`` flags and the keys under which
    every run's ``results.json`` records them, next to the CogCalib ``alpha``.

    Attributes:
        rcft_alpha: RCFT mixing weight ``a`` in ``(1 - a) L_SFT + a c L_cal``, in [0, 1]; 0 is CFT.
        rcft_scale: The constant ``c`` above, > 0. The authors' 1e-3 (the default) leaves ``L_cal`` so
            small next to the NLL that, on the knowledge world, RCFT trains the same model as CFT.
        rcft_include_top_bin: Whether the top confidence bin contributes to ``L_cal``. The authors' code
            loops over bins ``0..M-2`` and so never regularises the top bin, which looks like an
            off-by-one; ``False`` reproduces it.
        rcft_target_gradient: Whether the gradient of ``L_cal`` flows through the non-max targets. The
            authors' code computes the targets from the live probabilities, so it does (``True``
            reproduces it). llmcal's default treats them as constants of the M-step, like ``acc_k``: a
            target that moves with the probabilities it pulls on lets the optimiser shrink the loss by
            dragging the target along, which weakens the pull toward the E-step's accuracy.

    Raises:
        InputError: If a value is out of its range; the message names the field.
    """

    rcft_alpha: float = hyperparameter(0.5, help="RCFT mix a in (1-a) SFT + a c L_cal.")
    rcft_scale: float = hyperparameter(RCFT_CALIBRATION_SCALE, help="RCFT constant c (the authors' 1e-3).")
    # Not options of their own: `llmcal finetune --rcft-authors-code` sets both, together with the run's
    # refresh_every_epoch, since the released code differs from the paper in all three at once.
    rcft_include_top_bin: bool = hyperparameter(
        True, help="Include the top confidence bin in L_cal.", on_command_line=False
    )
    rcft_target_gradient: bool = hyperparameter(
        False, help="Let the gradient flow through the non-max targets.", on_command_line=False
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.rcft_alpha <= 1.0:
            raise InputError(
                f"RcftConfig.rcft_alpha must be in [0, 1]; got {self.rcft_alpha}.", parameter="rcft_alpha"
            )
        if not 0.0 < self.rcft_scale < math.inf:
            raise InputError(
                f"RcftConfig.rcft_scale must be finite and > 0; got {self.rcft_scale}.",
                parameter="rcft_scale",
            )
