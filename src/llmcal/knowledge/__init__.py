"""Prior knowledge: which items a model already knows, and a cheap detector of it during training."""

from __future__ import annotations

from llmcal.knowledge.detector import ThresholdDetector, youden_threshold
from llmcal.knowledge.ground_truth import known_from_records

__all__ = ["ThresholdDetector", "known_from_records", "youden_threshold"]
