"""Greedy generation with a KV cache: batches of left-padded prompts, finished rows dropped as they stop.

Each step runs one token per unfinished row on top of the rows' KV cache and picks the argmax of the
float32 logits, as ``transformers``' greedy ``generate`` does, so the tokens are the same (a test checks
this token for token). Unlike ``generate``, a row that has finished (a stop string, the end-of-text
token) leaves the batch at once (its cache rows are dropped), so a batch costs its rows' own answer
lengths rather than the longest one's, and every token's log-probability is kept (full-vocabulary
log-softmax in float32).

A stop string may end inside a token (``"Paris."`` with stop ``"."``); the answer is the decoded text up
to the stop string, as lm-evaluation-harness's ``generate_until`` cuts it, and the tokens that spell it
are counted in :attr:`~llmcal.scoring.requests.Generation.n_answer_tokens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from llmcal.scoring.requests import Generation, StopReason

__all__ = ["GenerationBatch", "cut_at_stop", "greedy_generate"]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    r"""``text`` up to the earliest stop string, and whether one was found.

    Examples:
        >>> cut_at_stop(" Paris. It is", (".", "\n"))
        (' Paris', True)
    """
    ends = [position for position in (text.find(string) for string in stop if string) if position >= 0]
    return (text[: min(ends)], True) if ends else (text, False)


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
    width = max(len(row.context) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for position, row in enumerate(rows):
        input_ids[position, width - len(row.context) :] = torch.tensor(row.context)
        mask[position, width - len(row.context) :] = 1
    mask = mask.to(device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    output = model(
        input_ids=input_ids.to(device),
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
    )
    active = list(range(len(rows)))
    next_position = positions[:, -1] + 1
    for step in range(max_new_tokens):
        logits = output.logits[:, -1, :].float()
        chosen = logits.argmax(dim=-1)
        logprobs = logits.log_softmax(dim=-1).gather(1, chosen.unsqueeze(1)).squeeze(1)
        keep: list[int] = []
        for slot, (row_number, token, logprob) in enumerate(
            zip(active, chosen.tolist(), logprobs.tolist(), strict=True)
        ):
            row = rows[row_number]
            row.tokens.append(token)
            row.logprobs.append(logprob)
            row.result = _finished(row, tokenizer, eos_ids, last_step=step == max_new_tokens - 1)
            if row.result is None:
                keep.append(slot)
        if not keep:
            break
        if len(keep) < len(active):
            selected = torch.tensor(keep, device=device)
            output.cache.batch_select_indices(selected)
            mask, next_position, chosen = mask[selected], next_position[selected], chosen[selected]
            active = [active[slot] for slot in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        output = model(
            input_ids=chosen.unsqueeze(1),
            attention_mask=mask,
            position_ids=next_position.unsqueeze(1),
            cache=output.cache,
            use_cache=True,
        )
        next_position = next_position + 1
    return [(row.index, row.result) for row in rows if row.result is not None]


def _finished(row: _Row, tokenizer: Any, eos_ids: frozenset[int], *, last_step: bool) -> Generation | None:
    """The row's generation if its last token ended it (or it has run out of tokens), else ``None``."""
    reason: StopReason
    if row.tokens[-1] in eos_ids:
        text, n_answer, reason = _decode(tokenizer, row.tokens[:-1]), len(row.tokens) - 1, "eos"
    else:
        text, stopped = cut_at_stop(_decode(tokenizer, row.tokens), row.stop)
        if stopped:
            # The answer ends inside the last token when the text before that token is shorter than it.
            before = len(_decode(tokenizer, row.tokens[:-1]))
            n_answer, reason = len(row.tokens) - (before >= len(text)), "stop"
        elif last_step:
            n_answer, reason = len(row.tokens), "length"
        else:
            return None
    return Generation(text, tuple(row.tokens), tuple(row.logprobs), n_answer, reason)


def _decode(tokenizer: Any, tokens: list[int]) -> str:
    return str(tokenizer.decode(tokens, skip_special_tokens=False)) if tokens else ""
