"""Prior knowledge: which items a model already knows, and a cheap detector of it during training."""

from __future__ import annotations

from llmcal.knowledge.detector import ThresholdDetector, youden_threshold
from llmcal.knowledge.ground_truth import SLICK_CATEGORIES, known_from_records, slick_categories
from llmcal.knowledge.probe import DetectorScore, ProbedItem, ProbeResult, ProbeSettings, probe_knowledge

__all__ = [
    "SLICK_CATEGORIES",
    "DetectorScore",
    "ProbeResult",
    "ProbeSettings",
    "ProbedItem",
    "ThresholdDetector",
    "known_from_records",
    "probe_knowledge",
    "slick_categories",
    "youden_threshold",
]
