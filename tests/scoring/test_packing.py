"""Packed rows: the layout, mask and kept positions by hand, and scores read off logits."""

from __future__ import annotations

import pytest
import torch

from llmcal.scoring.attention import AttentionPattern, LayerRule
from llmcal.scoring.packing import pack_rows, read_scores
from llmcal.scoring.tokenization import EncodedRequest

FULL = AttentionPattern({"full_attention": LayerRule()}, per_layer_type=False)

# Context [11, 12, 13]; continuations [21, 22, 23] and [31]; the next request [41] with [51, 52].
BATCH = [
    EncodedRequest(0, "a", [11, 12, 13], [[21, 22, 23], [31]]),
    EncodedRequest(1, "b", [41], [[51, 52]]),
]


def test_a_row_holds_the_context_and_every_continuation_but_its_last_token():
    packed = pack_rows(BATCH, pad_id=0)
    assert packed.input_ids.tolist() == [[11, 12, 13, 21, 22], [41, 51, 0, 0, 0]]
    # Each continuation's positions restart after the context.
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 4], [0, 1, 0, 0, 0]]
    # Kept: the context's last position and every continuation input.
    assert packed.keep.tolist() == [[False, False, True, True, True], [True, True, False, False, False]]
    assert packed.lengths == [3, 1, 2]
    assert packed.targets.tolist() == [21, 22, 23, 31, 51, 52]
    # Kept positions in order: (0,2)=0, (0,3)=1, (0,4)=2, (1,0)=3, (1,1)=4.
    assert packed.predictors.tolist() == [0, 1, 2, 0, 3, 4]


def test_the_block_mask_lets_a_continuation_see_the_context_and_itself_only():
    mask = pack_rows(BATCH, pad_id=0).attention_mask(FULL)
    assert mask.shape == (2, 1, 5, 5)
    assert mask[0, 0].int().tolist() == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 0],  # token 21 of the first continuation
        [1, 1, 1, 1, 1],  # token 22
    ]
    # No real token attends to the padding.
    assert not mask[1, 0, :2, 2:].any()


def test_two_continuations_do_not_see_each_other():
    batch = [EncodedRequest(0, "", [11, 12], [[21, 22], [31, 32]])]
    mask = pack_rows(batch, pad_id=0).attention_mask(FULL)[0, 0].int().tolist()
    assert mask[3] == [1, 1, 0, 1]  # token 31 sees the context and itself, not token 21
    assert pack_rows(batch, pad_id=0).position_ids.tolist() == [[0, 1, 2, 2]]


def test_a_cached_context_leaves_its_last_token_in_the_row():
    cache_mask = torch.tensor([[1, 1], [0, 0]])
    packed = pack_rows(BATCH, pad_id=0, cached=[2, 0], cache_mask=cache_mask)
    assert packed.input_ids.tolist() == [[13, 21, 22], [41, 51, 0]]
    assert packed.position_ids.tolist() == [[2, 3, 4], [0, 1, 0]]
    assert packed.attention_mask(FULL).shape == (2, 1, 3, 2 + 3)
    # Every query of the first row sees both cached tokens; the second row has nothing cached.
    assert packed.attention_mask(FULL)[0, 0, :, :2].all()
    assert not packed.attention_mask(FULL)[1, 0, :, :2].any()
    assert packed.predictors.tolist() == [0, 1, 2, 0, 3, 4]


@pytest.mark.parametrize("chunk", [1 << 24, 120])  # all rows at once; two rows of 60 at a time
def test_scores_are_log_softmax_values_and_argmax_flags(monkeypatch, chunk):
    monkeypatch.setattr("llmcal.scoring.packing._LOG_SOFTMAX_ELEMENTS", chunk)
    packed = pack_rows(BATCH, pad_id=0)
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(int(packed.keep.sum()), 60, generator=generator) * 3
    # The first continuation (21, 22, 23 at kept positions 0-2) and the third (51, 52 at 3-4) are greedy;
    # the second (31, at position 0 too) is not.
    for position, token in [(0, 21), (1, 22), (2, 23), (3, 51), (4, 52)]:
        logits[position, token] = 50.0
    expected = logits.log_softmax(dim=-1)[packed.predictors, packed.targets].tolist()
    scores = read_scores(logits, packed)
    # torch's float32 log_softmax, exactly (what lm-evaluation-harness reads)
    assert [value for score in scores for value in score.token_logprobs] == expected
    assert [score.is_greedy for score in scores] == [True, False, True]
    assert [score.n_tokens for score in scores] == [3, 1, 2]
