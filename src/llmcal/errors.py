"""Exceptions and warnings raised by llmcal.

Every error about user input is an :class:`InputError`. Its message names the input, says what was
expected, what was found and how to fix it, so the CLI can print it as it is and exit with code 2.

An error about a parameter names it as a Python caller spells it, in backticks (a message such as
"`dtype` must be one of ..."), and says which one in :attr:`InputError.parameter`. The CLI prints the
same message with each such mention replaced by the option of the command being run ("--dtype ...");
a mention written `name=VALUE` (a parameter given a value) becomes "--name VALUE".
"""

from __future__ import annotations

__all__ = ["CalibrationWarning", "InputError", "LlmcalError", "NotFittedError", "ServerError"]


class LlmcalError(Exception):
    """Base class of every error llmcal raises on purpose."""


class InputError(LlmcalError, ValueError):
    """An input (array, file, option) does not have the shape, range or content llmcal needs.

    Args:
        message: What is wrong and how to fix it; parameters it names are in backticks.
        parameter: The Python name of the parameter (or settings field) the message is about, if it is
            about one: programs can read it, and the CLI maps the message's mentions to its options.
    """

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        # Kept out of ``args`` so ``str(error)`` is the message alone; pickling restores it from __dict__.
        self.parameter = parameter


class ServerError(LlmcalError, RuntimeError):
    """A model server could not be reached, or kept failing, after every retry.

    The message names the server, what happened and what to do; work finished before it is kept (a rerun
    resumes). A server that refuses a request (HTTP 4xx) raises :class:`InputError` instead: retrying cannot
    help, the request or the options must change.
    """


class NotFittedError(LlmcalError, RuntimeError):
    """A calibrator was used before ``fit`` was called on it."""


class CalibrationWarning(UserWarning):
    """The result is defined but statistically shaky or degenerate (e.g. AUROC with one class)."""
