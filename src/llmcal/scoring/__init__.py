"""Scoring backends: turn (context, continuations) into token log-probabilities.

:class:`~llmcal.scoring.hf.HFBackend` (transformers; imports torch) lives in :mod:`llmcal.scoring.hf`
and is not imported here, so the protocol and the fake backend stay torch-free.
"""

from __future__ import annotations

from llmcal.scoring.fake import FakeBackend
from llmcal.scoring.requests import ContinuationScore, ScoringBackend, ScoringRequest

__all__ = ["ContinuationScore", "FakeBackend", "ScoringBackend", "ScoringRequest"]
