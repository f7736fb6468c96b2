"""Confidence extraction: score items with a backend, keep raw per-option scores, derive confidences."""

from __future__ import annotations

from llmcal.confidence.extraction import ExtractionSettings, check_methods, extract_records
from llmcal.confidence.methods import METHODS, option_scores, probabilities
from llmcal.confidence.records import ItemRecord

__all__ = [
    "METHODS",
    "ExtractionSettings",
    "ItemRecord",
    "check_methods",
    "extract_records",
    "option_scores",
    "probabilities",
]
