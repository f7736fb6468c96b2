"""Packed option scoring equals the scorer's, and a collated batch carries what the losses read."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.finetune.packing import collate, option_log_likelihoods, pack_items
from llmcal.scoring.attention import AttentionPattern, LayerRule, packing_pattern
from llmcal.scoring.hf import HFBackend
from llmcal.tasks.schema import MCItem

FULL = AttentionPattern({"full_attention": LayerRule()}, per_layer_type=False)

ITEMS = [
    MCItem("a", "What is the capital of France?", ("Paris", "Lyon is a city", "blue"), 0, context="Europe."),
    MCItem("b", "Which colour is the sky?", ("blue", "green"), 0),
    MCItem("c", "Who rides north to the old city?", ("the king", "a dog", "the queen and the king", "x"), 2),
    MCItem("d", "Mountains rise above the", ("valley", "river bank"), 1),
]


def test_packed_option_scores_equal_the_scorer(tiny_model_dir):
    backend = HFBackend(tiny_model_dir, device="cpu", dtype="float32")
    records = extract_records(ITEMS, backend, ExtractionSettings(("sum",)), task="t", style="qa")
    packed = pack_items(ITEMS, backend.tokenizer, max_length=512, style="qa")
    with torch.no_grad():
        scores = option_log_likelihoods(
            backend.model, collate(packed, backend.pad_id, packing_pattern(backend.model.config))
        )
    for row, record in enumerate(records):
        expected = [option.total for option in record.options]
        assert scores[row, : len(expected)].tolist() == pytest.approx(expected, abs=1e-4)
        assert torch.isinf(scores[row, len(expected) :]).all()  # padded options


def test_collate_has_no_known_tensor(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    packed = pack_items(ITEMS, tokenizer, max_length=512, style="qa", known=[True, False, True, False])
    assert "known" not in collate(packed, tokenizer.eos_token_id, FULL)
