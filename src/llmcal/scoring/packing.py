"""One row per request for a single forward pass, and the continuations' token scores read off its logits.

A row holds the part of the request's context that is not already in a KV cache (the *head*: the whole
context, or only its last token), then every continuation's tokens but the last (a continuation's last
token is only ever a target, never an input). A block attention mask lets the head attend causally to
itself, and each continuation to the head (and the cache) and, causally, to its own earlier tokens only;
position ids restart after the context for every continuation. One row thus scores all of a request's
continuations as if each had been appended to the context alone. The mask also carries the model's own
per-layer rules (sliding windows, chunks) on the tokens' logical positions
(:func:`llmcal.scoring.attention.block_mask`).

Only some positions' logits are needed: the head's last position (it predicts every continuation's first
token) and every continuation input (it predicts the next token). ``keep`` marks them, for the model's
``logits_to_keep``, so the output layer (a vocabulary of 32k-262k) runs at those positions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from llmcal.scoring.attention import AttentionPattern, block_mask
from llmcal.scoring.requests import ContinuationScore
from llmcal.scoring.tokenization import EncodedRequest

__all__ = ["PackedRows", "pack_rows", "read_scores"]

# Logits turned into float32 log-probabilities at a time (rows x vocabulary): 64 MB.
_LOG_SOFTMAX_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class PackedRows:
    """A batch of requests packed one per row, right-padded to the longest.

    Attributes:
        input_ids: ``(rows, width)`` token ids.
        position_ids: ``(rows, width)`` positions, counting the cached context tokens.
        segments: ``(rows, width)`` 0 for the context's tokens, ``k`` for the k-th continuation's, -1 for
            padding.
        cache_mask: ``(rows, cached width)`` the KV cache's attention mask (1 at real tokens), if any.
        keep: ``(rows, width)`` boolean, True at the positions whose next-token logits are needed.
        predictors: ``(targets,)`` for every continuation token, in batch order, the index of the kept
            position that predicts it (kept positions counted row by row, left to right).
        targets: ``(targets,)`` the continuation tokens, in the same order.
        lengths: Tokens of each continuation, in batch order (they split ``targets``).
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    segments: torch.Tensor
    cache_mask: torch.Tensor | None
    keep: torch.Tensor
    predictors: torch.Tensor
    targets: torch.Tensor
    lengths: list[int]

    def attention_mask(self, pattern: AttentionPattern) -> torch.Tensor | dict[str, torch.Tensor]:
        """The mask under the model's rules: True where a query may attend a key.

        ``(rows, 1, width, cached + width)`` booleans, or a dict of them by layer type where layers differ.

        Every query sees all of its row's cached tokens: a cache is only built for models whose every layer
        sees the whole context (``HFBackend`` refuses ``cached`` elsewhere).
        """
        masks = block_mask(self.segments, self.position_ids, pattern)
        if self.cache_mask is None:
            return masks
        width = self.input_ids.shape[1]
        seen = self.cache_mask.bool()[:, None, None, :].expand(-1, 1, width, -1)
        if isinstance(masks, dict):
            return {name: torch.cat([seen, mask], dim=-1) for name, mask in masks.items()}
        return torch.cat([seen, masks], dim=-1)

    @property
    def padding_mask(self) -> torch.Tensor:
        """``(rows, width)`` 1 at real tokens, 0 at the right padding: a 2D mask the model builds on."""
        return (self.segments >= 0).long()


def pack_rows(
    batch: Sequence[EncodedRequest],
    *,
    pad_id: int,
    cached: Sequence[int] | None = None,
    cache_mask: torch.Tensor | None = None,
) -> PackedRows:
    """Packs ``batch`` one request per row (see the module docstring).

    Args:
        batch: Encoded requests.
        pad_id: Token id of the padding (never attended to by a real token).
        cached: Per request, how many of its leading context tokens are in a KV cache (default: none).
            At least one context token must stay in the row.
        cache_mask: ``(rows, cached width)`` the cache's attention mask (1 at real tokens), when ``cached``.
    """
    layout = _Layout()
    for request, skipped in zip(batch, cached if cached is not None else [0] * len(batch), strict=True):
        layout.add(request, skipped)
    width = max(len(ids) for ids in layout.inputs)
    segment_ids = _right_padded(layout.segments, -1, width)  # -1: padding
    heads = torch.tensor(layout.heads)
    keep = (segment_ids > 0) | (torch.arange(width).unsqueeze(0) == (heads - 1).unsqueeze(1))
    rank = keep.flatten().cumsum(0) - 1  # index of each position among the kept ones
    flat = torch.tensor([row * width + position for row, position in layout.predictors])
    return PackedRows(
        input_ids=_right_padded(layout.inputs, pad_id, width),
        position_ids=_right_padded(layout.positions, 0, width),
        segments=segment_ids,
        cache_mask=cache_mask,
        keep=keep,
        predictors=rank[flat],
        targets=torch.tensor(layout.targets),
        lengths=layout.lengths,
    )


@dataclass
class _Layout:
    """The rows of a batch as lists, one request added at a time (made tensors once all are in)."""

    inputs: list[list[int]] = field(default_factory=list)
    segments: list[list[int]] = field(default_factory=list)  # 0: head, k: the k-th continuation
    positions: list[list[int]] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)  # each row's head length
    predictors: list[tuple[int, int]] = field(default_factory=list)  # (row, position) predicting each target
    targets: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def add(self, request: EncodedRequest, skipped: int) -> None:
        """Lays ``request`` out as the next row, its first ``skipped`` context tokens left to the cache."""
        row = len(self.inputs)
        head = request.context[skipped:]
        ids, segment, position = list(head), [0] * len(head), list(range(skipped, len(request.context)))
        for number, tokens in enumerate(request.continuations, start=1):
            start = len(ids)
            ids.extend(tokens[:-1])
            segment.extend([number] * (len(tokens) - 1))
            position.extend(range(len(request.context), len(request.context) + len(tokens) - 1))
            # Token 0 is predicted by the head's last position, token j by the continuation's token j - 1.
            self.predictors.append((row, len(head) - 1))
            self.predictors.extend((row, start + j) for j in range(len(tokens) - 1))
            self.targets.extend(tokens)
            self.lengths.append(len(tokens))
        self.inputs.append(ids)
        self.segments.append(segment)
        self.positions.append(position)
        self.heads.append(len(head))


def _right_padded(rows: list[list[int]], fill: int, width: int) -> torch.Tensor:
    return torch.tensor([row + [fill] * (width - len(row)) for row in rows])


def read_scores(logits: torch.Tensor, packed: PackedRows) -> list[ContinuationScore]:
    """Every continuation's token log-probabilities and greedy flag, in batch order.

    The log-probabilities are torch's float32 ``log_softmax``, which is what lm-evaluation-harness reads.
    A more exact normaliser (``logsumexp``, or float64) is not the same number: over a 49k vocabulary it
    differs by about 1.5e-5 per token, always the same way, which adds up past the 1e-4 agreement with
    lm-eval on options of 7 tokens. The rows are converted a chunk at a time, so the copy stays small.

    Args:
        logits: ``(kept, vocab)`` the logits at the kept positions, in :attr:`PackedRows.keep` order.
        packed: The rows the logits came from.
    """
    predictors = packed.predictors.to(logits.device)
    targets = packed.targets.to(logits.device)
    values = torch.empty(targets.shape, dtype=torch.float32, device=logits.device)
    hits = torch.empty(targets.shape, dtype=torch.bool, device=logits.device)
    rows = max(1, _LOG_SOFTMAX_ELEMENTS // logits.shape[-1])
    for first in range(0, logits.shape[0], rows):
        logprobs = logits[first : first + rows].float().log_softmax(dim=-1)  # (rows, vocab)
        inside = (predictors >= first) & (predictors < first + rows)
        local, wanted = predictors[inside] - first, targets[inside]
        values[inside] = logprobs[local, wanted]
        hits[inside] = logprobs.argmax(dim=-1)[local] == wanted  # lm-eval's greedy test, on log-probs
    value_list, hit_list = values.tolist(), hits.tolist()
    scores = []
    start = 0
    for length in packed.lengths:
        end = start + length
        scores.append(ContinuationScore(tuple(value_list[start:end]), all(hit_list[start:end])))
        start = end
    return scores
