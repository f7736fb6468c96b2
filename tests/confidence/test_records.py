"""Item records: non-finite log-probabilities name the item."""

from __future__ import annotations

import pytest

from llmcal import InputError
from llmcal.confidence import (
    ItemRecord,
    probabilities,
)
from llmcal.scoring import ContinuationScore


def test_non_finite_scores_name_the_item():
    options = (ContinuationScore((float("nan"),), False), ContinuationScore((-1.0,), False))
    with pytest.raises(InputError, match=r"t/bad-1: the model gave non-finite log-probabilities \(\[nan\]\)"):
        ItemRecord("t", "bad-1", 0, 2, None, options, None)
    with pytest.raises(InputError, match="t/bad-2: the model gave non-finite"):
        ItemRecord("t", "bad-2", 0, 2, None, None, (0.0, float("inf")))
    fine = ItemRecord("t", "ok", 0, 2, None, options[1:] * 2, None)
    with pytest.raises(InputError, match="has no scores for method 'choice'"):
        probabilities([fine], "choice")
