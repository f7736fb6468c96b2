"""llmcal: measure, explain and fix the calibration of large language models.

Importing this package is cheap: it pulls in numpy and scipy only. The model-facing parts
(scoring, fine-tuning) import torch and transformers when they are used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from llmcal.errors import CalibrationWarning, InputError, LlmcalError, NotFittedError

try:
    __version__ = version("llmcal")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["CalibrationWarning", "InputError", "LlmcalError", "NotFittedError", "__version__"]
