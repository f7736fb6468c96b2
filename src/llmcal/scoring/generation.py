"""Greedy generation with a KV cache: batches of left-padded prompts, finished rows dropped as they stop.

Each step runs one token per unfinished row on top of the rows' KV cache and picks the argmax of the
float32 logits, as ``transformers``' greedy ``generate`` does, so the tokens are the same (a test checks
this token for token). Unlike ``generate``, a row that has finished (a stop string, the end-of-text
token) leaves the batch at once (its cache rows are dropped), so a batch costs its rows' own answer
lengths rather than the longest one's, and every token's log-probability is kept (full-vocabulary
log-softmax in float32).

Answers are cut at stop strings and their tokens counted by :mod:`llmcal.scoring.generation_ending`.

Positions are passed to models whose forward takes ``position_ids``; the others (ALiBi models: BLOOM, MPT)
derive them from the 2D mask, which the left padding here keeps right.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from llmcal.scoring.generation_ending import cut_at_stop, ending
from llmcal.scoring.requests import Generation

# cut_at_stop is re-exported for callers that cut answers as this loop does.
__all__ = ["GenerationBatch", "cut_at_stop", "greedy_generate"]


@dataclass
class _Row:
    """One prompt being continued."""

    index: int
    context: list[int]
    stop: tuple[str, ...]
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    result: Generation | None = None


@dataclass(frozen=True)
class GenerationBatch:
    """Prompts to continue together: token ids and stop strings, with their positions in the caller's list."""

    indices: list[int]
    contexts: list[list[int]]
    stops: list[tuple[str, ...]]


def greedy_generate(
    model: Any,
    tokenizer: Any,
    batch: GenerationBatch,
    *,
    max_new_tokens: int,
    eos_ids: frozenset[int],
    pad_id: int,
    device: torch.device,
) -> list[tuple[int, Generation]]:
    """Continues every prompt of ``batch`` greedily; returns ``(caller's index, generation)`` pairs.

    Args:
        model: A causal LM taking ``input_ids``, ``attention_mask``, ``position_ids`` and a ``cache``.
        tokenizer: Decodes the generated tokens to find the stop strings.
        batch: The prompts, already tokenised (and truncated to leave room for the new tokens).
        max_new_tokens: The most tokens generated per prompt.
        eos_ids: End-of-text token ids: a generation ends after one of them (which is not decoded).
        pad_id: Token the left padding is filled with (never attended to).
        device: Where the model runs.
    """
    rows = [
        _Row(index, context, stop)
        for index, context, stop in zip(batch.indices, batch.contexts, batch.stops, strict=True)
    ]
    input_ids, mask = _left_padded([row.context for row in rows], pad_id)
    mask = mask.to(device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    forward = _forward_of(model)
    output = forward(
        input_ids=input_ids.to(device),
        attention_mask=mask,
        use_cache=True,
        logits_to_keep=1,
        positions=positions,
    )
    active = list(range(len(rows)))
    next_position = positions[:, -1] + 1
    for step in range(max_new_tokens):
        last_step = step == max_new_tokens - 1
        chosen, keep = _extend(
            [rows[number] for number in active], output.logits, tokenizer, eos_ids, last_step
        )
        if not keep:
            break
        if len(keep) < len(active):  # finished rows leave the batch and its cache
            selected = torch.tensor(keep, device=device)
            output.cache.batch_select_indices(selected)
            mask, next_position, chosen = mask[selected], next_position[selected], chosen[selected]
            active = [active[slot] for slot in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        output = forward(
            input_ids=chosen.unsqueeze(1),
            attention_mask=mask,
            cache=output.cache,
            use_cache=True,
            positions=next_position.unsqueeze(1),
        )
        next_position = next_position + 1
    return [(row.index, row.result) for row in rows if row.result is not None]


def _left_padded(contexts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The contexts as rows right-aligned on ``pad_id`` padding, and their attention mask (0 on padding)."""
    width = max(len(context) for context in contexts)
    input_ids = torch.full((len(contexts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(contexts), width), dtype=torch.long)
    for position, context in enumerate(contexts):
        input_ids[position, width - len(context) :] = torch.tensor(context)
        mask[position, width - len(context) :] = 1
    return input_ids, mask


def _forward_of(model: Any) -> Callable[..., Any]:
    """``model``'s forward taking ``positions``, passed on as ``position_ids`` only where it has them."""
    takes_positions = "position_ids" in inspect.signature(model.forward).parameters

    def forward(*, positions: torch.Tensor, **inputs: Any) -> Any:
        return model(**inputs, **({"position_ids": positions} if takes_positions else {}))

    return forward


def _extend(
    rows: list[_Row], logits: torch.Tensor, tokenizer: Any, eos_ids: frozenset[int], last_step: bool
) -> tuple[torch.Tensor, list[int]]:
    """Appends each row's greedy next token and its log-probability; marks the rows that finished.

    Args:
        rows: The unfinished rows, in the order of ``logits``' batch dimension.
        logits: The last forward pass's logits, ``(rows, positions, vocabulary)``; the last position is read.
        tokenizer: Decodes the tokens to find stop strings.
        eos_ids: End-of-text token ids.
        last_step: Whether no further token may be generated.

    Returns:
        The chosen tokens (one per row) and the slots (indices into ``rows``) of the rows still going.
    """
    last = logits[:, -1, :].float()
    chosen = last.argmax(dim=-1)
    logprobs = last.log_softmax(dim=-1).gather(1, chosen.unsqueeze(1)).squeeze(1)
    keep: list[int] = []
    for slot, (row, token, logprob) in enumerate(zip(rows, chosen.tolist(), logprobs.tolist(), strict=True)):
        row.tokens.append(token)
        row.logprobs.append(logprob)
        row.result = ending(tokenizer, row.tokens, row.logprobs, row.stop, eos_ids, out_of_tokens=last_step)
        if row.result is None:
            keep.append(slot)
    return chosen, keep
