"""Post-hoc calibrators, fitted on a held-out split and applied to the rest (scikit-learn style).

Multi-class (logits or probabilities in, probabilities out): :class:`TemperatureScaler`,
:class:`VectorScaler`. Top-label (confidence in, confidence out): :class:`PlattScaler`,
:class:`IsotonicCalibrator`, :class:`HistogramBinning`.
"""

from __future__ import annotations

from llmcal.calibrators.base import CALIBRATORS, Calibrator, calibrator_from_dict, register_calibrator
from llmcal.calibrators.histogram import HistogramBinning
from llmcal.calibrators.isotonic import IsotonicCalibrator
from llmcal.calibrators.platt import PlattScaler
from llmcal.calibrators.temperature import TemperatureScaler
from llmcal.calibrators.vector import VectorScaler

__all__ = [
    "CALIBRATORS",
    "Calibrator",
    "HistogramBinning",
    "IsotonicCalibrator",
    "PlattScaler",
    "TemperatureScaler",
    "VectorScaler",
    "calibrator_from_dict",
    "register_calibrator",
]
