"""Fixtures of the confidence tests: registries a test may add methods to."""

from __future__ import annotations

import pytest

from llmcal.confidence.generation_methods import GENERATION_METHODS
from llmcal.confidence.methods import METHODS


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Methods registered in a test vanish after it: each method registry's table is a copy for the test."""
    for registry in (METHODS, GENERATION_METHODS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
