"""Calibration metrics: pure numpy functions with one validation layer.

Top-label metrics take ``(confidences, correct)``; class-wise metrics and scoring rules take
``(probs, labels)``. :func:`top_label_confidence` converts the second form into the first.
"""

from __future__ import annotations

from llmcal.metrics.binning import ReliabilityBins, reliability_bins
from llmcal.metrics.bootstrap import ConfidenceInterval, bootstrap_ci
from llmcal.metrics.calibration_error import ace, ece, mce, rms_ce, sce, top_label_confidence
from llmcal.metrics.catalog import METRICS, MetricSpec
from llmcal.metrics.comparison import change, change_rate
from llmcal.metrics.discrimination import auroc
from llmcal.metrics.scoring_rules import brier, nll
from llmcal.metrics.smooth_calibration import smooth_ece, smooth_ece_bandwidth
from llmcal.metrics.validation import BinStrategy

__all__ = [
    "METRICS",
    "BinStrategy",
    "ConfidenceInterval",
    "MetricSpec",
    "ReliabilityBins",
    "ace",
    "auroc",
    "bootstrap_ci",
    "brier",
    "change",
    "change_rate",
    "ece",
    "mce",
    "nll",
    "reliability_bins",
    "rms_ce",
    "sce",
    "smooth_ece",
    "smooth_ece_bandwidth",
    "top_label_confidence",
]
