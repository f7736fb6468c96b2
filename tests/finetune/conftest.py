"""Fixtures of the fine-tuning tests: untrained copies of the tiny model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def load_tiny_model(tiny_model_dir: str) -> Callable[[], tuple[Any, Any]]:
    """Loads a new, untrained copy of the tiny model and its tokenizer at each call (training changes it)."""

    def load() -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(
            tiny_model_dir
        )

    return load
