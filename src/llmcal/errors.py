"""Exceptions and warnings raised by llmcal.

Every error about user input is an :class:`InputError`. Its message names the input, says what was
expected, what was found and how to fix it, so the CLI can print it as it is and exit with code 2.
"""

from __future__ import annotations

__all__ = ["CalibrationWarning", "InputError", "LlmcalError", "NotFittedError"]


class LlmcalError(Exception):
    """Base class of every error llmcal raises on purpose."""


class InputError(LlmcalError, ValueError):
    """An input (array, file, option) does not have the shape, range or content llmcal needs."""


class NotFittedError(LlmcalError, RuntimeError):
    """A calibrator was used before ``fit`` was called on it."""


class CalibrationWarning(UserWarning):
    """The result is defined but statistically shaky or degenerate (e.g. AUROC with one class)."""
