"""Prior knowledge: which items a model already knows, and a cheap detector of it during training."""

from __future__ import annotations

from llmcal.knowledge.detector import ThresholdDetector, youden_threshold
from llmcal.knowledge.ground_truth import SLICK_CATEGORIES, known_from_records, slick_categories

__all__ = [
    "SLICK_CATEGORIES",
    "ThresholdDetector",
    "known_from_records",
    "slick_categories",
    "youden_threshold",
]
