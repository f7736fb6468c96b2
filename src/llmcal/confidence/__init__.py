"""Confidence extraction: score items with a backend, keep raw per-option scores, derive confidences."""

from __future__ import annotations

from llmcal.confidence.extraction import ExtractionSettings, check_methods, extract_records, scoring_passes
from llmcal.confidence.methods import (
    METHODS,
    ConfidenceMethod,
    confidence_method,
    option_scores,
    probabilities,
)
from llmcal.confidence.records import ItemRecord

# The methods over samples register themselves beside the single-pass generation methods on import.
from llmcal.confidence import sample_methods  # noqa: F401  # isort: skip

__all__ = [
    "METHODS",
    "ConfidenceMethod",
    "ExtractionSettings",
    "ItemRecord",
    "check_methods",
    "confidence_method",
    "extract_records",
    "option_scores",
    "probabilities",
    "scoring_passes",
]
