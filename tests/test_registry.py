from __future__ import annotations

import pytest

from llmcal import InputError
from llmcal.registry import Registry


def test_lookup_and_suggestions():
    registry: Registry[int] = Registry("loss")
    registry.add("label_smoothing", 1)

    @registry.register("sft")
    def _sft() -> int:
        return 2

    assert registry.get("label_smoothing") == 1
    assert registry.names() == ["label_smoothing", "sft"]
    assert "sft" in registry
    assert len(registry) == 2
    expected = (
        r"Unknown loss 'label_smothing'\. Did you mean: label_smoothing\? Available: label_smoothing, sft\."
    )
    with pytest.raises(InputError, match=expected):
        registry.get("label_smothing")
    with pytest.raises(ValueError, match="already registered"):
        registry.add("sft", 3)
