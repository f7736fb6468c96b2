"""Generation with a KV cache: batches of left-padded prompts, finished rows dropped as they stop.

Each step runs one token per unfinished row on top of the rows' KV cache. Greedy generation picks the
argmax of the float32 logits, as ``transformers``' greedy ``generate`` does, so the tokens are the same (a
test checks this token for token). Unlike ``generate``, a row that has finished (a stop string, the
end-of-text token) leaves the batch at once (its cache rows are dropped), so a batch costs its rows' own
answer lengths rather than the longest one's, and every token's log-probability is kept (full-vocabulary
log-softmax in float32).

Sampling (:func:`sample_generate`) runs each prompt once and copies its KV cache to its samples, which then
continue as rows of their own. A token is drawn by inverting the cumulative distribution (float64) at one
uniform draw from the sample's own stream (:mod:`llmcal.scoring.sampling`), so a sample does not depend on
its batch.

Answers are cut at stop strings and their tokens counted by :mod:`llmcal.scoring.generation_ending`.

Positions are passed to models whose forward takes ``position_ids``; the others (ALiBi models: BLOOM, MPT)
derive them from the 2D mask, which the left padding here keeps right.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from llmcal.scoring.generation_ending import cut_at_stop, ending
from llmcal.scoring.requests import Generation
from llmcal.scoring.sampling import SamplingSettings

# cut_at_stop is re-exported for callers that cut answers as this loop does.
__all__ = ["GenerationBatch", "cut_at_stop", "greedy_generate", "sample_generate"]


@dataclass
class _Row:
    """One prompt being continued."""

    index: int
    context: list[int]
    stop: tuple[str, ...]
    random: np.random.Generator | None = None
    number: int = 0
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    result: Generation | None = None


@dataclass(frozen=True)
class GenerationBatch:
    """Prompts to continue together: token ids and stop strings, with their positions in the caller's list."""

    indices: list[int]
    contexts: list[list[int]]
    stops: list[tuple[str, ...]]


@dataclass(frozen=True)
class _Decoder:
    """What every step of a generation needs besides its rows: the model and when to stop."""

    model: Any
    tokenizer: Any
    max_new_tokens: int
    eos_ids: frozenset[int]
    pad_id: int
    device: torch.device


# Picks each row's next token from the float32 logits of its last position, (rows, vocabulary).
_Choose = Callable[[torch.Tensor, Sequence[_Row]], torch.Tensor]


def _most_likely(last: torch.Tensor, rows: Sequence[_Row]) -> torch.Tensor:
    return last.argmax(dim=-1)


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
    decoder = _Decoder(model, tokenizer, max_new_tokens, eos_ids, pad_id, device)
    _continue(decoder, rows, batch.contexts, 1, _most_likely)
    return [(row.index, row.result) for row in rows if row.result is not None]


def sample_generate(
    model: Any,
    tokenizer: Any,
    batch: GenerationBatch,
    *,
    settings: SamplingSettings,
    seeds: Sequence[Sequence[int]],
    max_new_tokens: int,
    eos_ids: frozenset[int],
    pad_id: int,
    device: torch.device,
) -> list[tuple[int, int, Generation]]:
    """Samples ``settings.samples`` continuations of every prompt of ``batch``.

    Why it is long: :func:`greedy_generate`'s arguments, and what sampling adds to them (the settings and
    each sample's seed), kept apart so the greedy path keeps its signature.

    Args:
        model: A causal LM, as for :func:`greedy_generate`.
        tokenizer: Decodes the generated tokens to find the stop strings.
        batch: The prompts, already tokenised.
        settings: The number of samples and the distribution they are drawn from.
        seeds: Per prompt, the seed of each of its samples (:func:`~llmcal.scoring.sampling.sample_seed`).
        max_new_tokens: The most tokens generated per sample.
        eos_ids: End-of-text token ids.
        pad_id: Token the left padding is filled with.
        device: Where the model runs.

    Returns:
        ``(caller's index, sample number, generation)`` triples.
    """
    rows = [
        _Row(index, context, stop, np.random.default_rng(seed), number)
        for index, context, stop, prompt_seeds in zip(
            batch.indices, batch.contexts, batch.stops, seeds, strict=True
        )
        for number, seed in enumerate(prompt_seeds)
    ]
    decoder = _Decoder(model, tokenizer, max_new_tokens, eos_ids, pad_id, device)
    _continue(decoder, rows, batch.contexts, settings.samples, _SampledToken(settings))
    return [(row.index, row.number, row.result) for row in rows if row.result is not None]


@dataclass(frozen=True)
class _SampledToken:
    """Draws each row's next token: temperature, then top-k, then top-p, then one uniform from its stream."""

    settings: SamplingSettings

    def __call__(self, last: torch.Tensor, rows: Sequence[_Row]) -> torch.Tensor:
        settings = self.settings
        if settings.temperature == 0.0:
            return last.argmax(dim=-1)
        scaled = last.double() / settings.temperature
        vocabulary = scaled.shape[-1]
        # The candidates and their token ids; with top-k only the k likeliest, sorted, are carried on
        # (the softmax and cumulative sums then run over k columns instead of the whole vocabulary).
        candidates = scaled
        ids = torch.arange(vocabulary, device=last.device).expand_as(scaled)
        by_likelihood = False
        if 0 < settings.top_k < vocabulary:
            values, indices = torch.topk(scaled, settings.top_k, dim=-1)
            if bool(((scaled >= values[:, -1:]).sum(dim=-1) == settings.top_k).all()):
                candidates, ids, by_likelihood = values, indices, True
            else:  # tokens tied with the k-th value stay in, as in HF: filter the whole vocabulary
                candidates = scaled.masked_fill(scaled < values[:, -1:], float("-inf"))
        if settings.top_p < 1.0:
            if not by_likelihood:
                candidates, order = candidates.sort(dim=-1, descending=True)
                ids = ids.gather(-1, order)
            probs = candidates.softmax(dim=-1)
            # A token is dropped once the more likely ones hold top_p already; the most likely always stays.
            candidates = candidates.masked_fill(
                (probs.cumsum(dim=-1) - probs) >= settings.top_p, float("-inf")
            )
            by_likelihood = True
        if by_likelihood:  # back to token-id order: the draw inverts the distribution in that order
            order = ids.argsort(dim=-1)
            candidates, ids = candidates.gather(-1, order), ids.gather(-1, order)
        cumulative = candidates.softmax(dim=-1).cumsum(dim=-1)
        draws = torch.tensor([_stream(row).random() for row in rows], dtype=torch.float64, device=last.device)
        # The first token whose cumulative probability passes the draw (inverse CDF).
        chosen = (cumulative <= (draws * cumulative[:, -1]).unsqueeze(1)).sum(dim=-1)
        return ids.gather(-1, chosen.clamp(max=ids.shape[-1] - 1).unsqueeze(1)).squeeze(1)


def _stream(row: _Row) -> np.random.Generator:
    if row.random is None:
        raise ValueError("a sampled row needs its random stream")
    return row.random


def _continue(
    decoder: _Decoder, rows: list[_Row], contexts: Sequence[list[int]], copies: int, choose: _Choose
) -> None:
    """Runs the prompts once, gives each of its ``copies`` rows its KV cache, and continues every row.

    ``rows`` hold ``copies`` consecutive rows per context; each row's ``result`` is set when it ends.
    """
    device = decoder.device
    input_ids, mask = _left_padded(list(contexts), decoder.pad_id)
    mask = mask.to(device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    forward = _forward_of(decoder.model)
    output = forward(
        input_ids=input_ids.to(device),
        attention_mask=mask,
        use_cache=True,
        logits_to_keep=1,
        positions=positions,
    )
    logits = output.logits
    if copies > 1:  # the samples of a prompt share its one forward pass
        output.cache.batch_repeat_interleave(copies)
        logits = logits.repeat_interleave(copies, dim=0)
        mask, positions = mask.repeat_interleave(copies, dim=0), positions.repeat_interleave(copies, dim=0)
    active = list(range(len(rows)))
    next_position = positions[:, -1] + 1
    cache = output.cache
    for step in range(decoder.max_new_tokens):
        last_step = step == decoder.max_new_tokens - 1
        chosen, keep = _extend(
            [rows[number] for number in active], logits, decoder.tokenizer, decoder.eos_ids, last_step, choose
        )
        if not keep:
            break
        if len(keep) < len(active):  # finished rows leave the batch and its cache
            selected = torch.tensor(keep, device=device)
            cache.batch_select_indices(selected)
            mask, next_position, chosen = mask[selected], next_position[selected], chosen[selected]
            active = [active[slot] for slot in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        output = forward(
            input_ids=chosen.unsqueeze(1),
            attention_mask=mask,
            cache=cache,
            use_cache=True,
            positions=next_position.unsqueeze(1),
        )
        logits, cache = output.logits, output.cache
        next_position = next_position + 1


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
    rows: list[_Row],
    logits: torch.Tensor,
    tokenizer: Any,
    eos_ids: frozenset[int],
    last_step: bool,
    choose: _Choose,
) -> tuple[torch.Tensor, list[int]]:
    """Appends each row's next token and the model's log-probability of it; marks the rows that finished.

    Args:
        rows: The unfinished rows, in the order of ``logits``' batch dimension.
        logits: The last forward pass's logits, ``(rows, positions, vocabulary)``; the last position is read.
        tokenizer: Decodes the tokens to find stop strings.
        eos_ids: End-of-text token ids.
        last_step: Whether no further token may be generated.
        choose: Picks the tokens (greedy, or drawn).

    Returns:
        The chosen tokens (one per row) and the slots (indices into ``rows``) of the rows still going.
    """
    last = logits[:, -1, :].float()
    chosen = choose(last, rows)
    logprobs = last.log_softmax(dim=-1).gather(1, chosen.unsqueeze(1)).squeeze(1)
    keep: list[int] = []
    for slot, (row, token, logprob) in enumerate(zip(rows, chosen.tolist(), logprobs.tolist(), strict=True)):
        row.tokens.append(token)
        row.logprobs.append(logprob)
        row.result = ending(tokenizer, row.tokens, row.logprobs, row.stop, eos_ids, out_of_tokens=last_step)
        if row.result is None:
            keep.append(slot)
    return chosen, keep
