"""Calibration metrics and the statistics built on them: pure numpy functions with one validation layer.

Top-label metrics take ``(confidences, correct)``; class-wise metrics and scoring rules take
``(probs, labels)``. :func:`top_label_confidence` converts the second form into the first. Every metric
is registered in :data:`METRICS`; :class:`MetricSettings` says how they are binned and bootstrapped;
:func:`summarize` gives every metric with an interval, :func:`stratify` and :func:`summarize_strata`
the same per stratum of items (by popularity, by subject), and :func:`metric_changes` the paired change of
every metric between two runs. The selective-prediction metrics (:func:`aurc`, :func:`eaurc`,
:func:`auarc`, :func:`prr`, :func:`selective_accuracy`, :func:`risk_coverage_curve`) read only the order of
the confidences, so they take any real scores.
"""

from __future__ import annotations

from llmcal.metrics.accuracy import accuracy
from llmcal.metrics.binning import ReliabilityBins, reliability_bins
from llmcal.metrics.bootstrap import ConfidenceInterval, bootstrap_ci
from llmcal.metrics.calibration_error import ace, ece, mce, rms_ce, sce, top_label_confidence
from llmcal.metrics.catalog import METRICS, MetricSpec
from llmcal.metrics.comparison import (
    MetricChange,
    change,
    change_rate,
    metric_changes,
    rank_by_change_rate,
)
from llmcal.metrics.discrimination import auroc
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.scoring_rules import brier, nll, top_label_brier
from llmcal.metrics.selective import (
    RiskCoverageCurve,
    auarc,
    aurc,
    eaurc,
    prr,
    risk_coverage_curve,
    selective_accuracy,
)
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.smooth_calibration import smooth_ece, smooth_ece_bandwidth
from llmcal.metrics.strata import Strata, Stratum, stratify, summarize_strata
from llmcal.metrics.summary import (
    CALIBRATION_ROW_BINNING,
    CalibrationRow,
    MetricValue,
    Summary,
    applicable_metrics,
    calibration_row,
    summarize,
)
from llmcal.metrics.validation import BinStrategy

__all__ = [
    "CALIBRATION_ROW_BINNING",
    "METRICS",
    "BinStrategy",
    "CalibrationRow",
    "ConfidenceInterval",
    "MetricChange",
    "MetricSettings",
    "MetricSpec",
    "MetricValue",
    "Predictions",
    "ReliabilityBins",
    "RiskCoverageCurve",
    "Strata",
    "Stratum",
    "Summary",
    "accuracy",
    "ace",
    "applicable_metrics",
    "auarc",
    "aurc",
    "auroc",
    "bootstrap_ci",
    "brier",
    "calibration_row",
    "change",
    "change_rate",
    "eaurc",
    "ece",
    "mce",
    "metric_changes",
    "nll",
    "prr",
    "rank_by_change_rate",
    "reliability_bins",
    "risk_coverage_curve",
    "rms_ce",
    "sce",
    "selective_accuracy",
    "smooth_ece",
    "smooth_ece_bandwidth",
    "stratify",
    "summarize",
    "summarize_strata",
    "top_label_brier",
    "top_label_confidence",
]
