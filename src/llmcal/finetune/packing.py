"""Training examples with every option packed into one row, and their option log-likelihoods.

A multiple-choice item becomes one sequence ``context | option_1 | ... | option_K`` (each option without its
last token, which is only ever predicted). A block attention mask lets each option see the context and its
own earlier tokens, and each option's position ids restart after the context, so one forward pass gives
every option's log-likelihood exactly as scoring each ``context + option`` alone would. The mask carries
the model's own per-layer rules (sliding windows, chunks; :mod:`llmcal.scoring.attention`); for a model
family where packing is not proven exact (ALiBi, unknown families), :func:`collate` instead gives each
option a right-padded row of its own, through the model's own mask code. These are the
``option_scores`` every fine-tuning loss consumes; the gold answer's full-vocabulary NLL is
``-option_scores[y]``.

An open-ended item becomes ``prompt | answer``: one "option", its first accepted answer. Its losses also
read the full-vocabulary distribution at each answer token (:func:`option_forward` with
``answer_tokens=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from llmcal.finetune.losses import AnswerTokenTerms
from llmcal.scoring.attention import AttentionPattern, block_mask, model_mask
from llmcal.scoring.requests import ScoringRequest
from llmcal.scoring.tokenization import PairEncoder
from llmcal.tasks.prompts import PromptFormat, gold_open_pair, option_pairs
from llmcal.tasks.schema import MCItem, OpenItem
from llmcal.tasks.spec import ClozeStyle

__all__ = [
    "PackedExample",
    "collate",
    "model_config",
    "option_forward",
    "option_log_likelihoods",
    "pack_items",
]


@dataclass(frozen=True)
class PackedExample:
    """One item as a packed row.

    Attributes:
        input_ids: Context tokens, then each option's tokens but its last.
        position_ids: Positions; each option's restart right after the context.
        segment: -1 for context tokens, ``k`` for tokens of option ``k``.
        targets: Per option, ``(position, token)`` pairs: the token predicted at that position.
        label: Gold option index.
        known: Prior-knowledge label if known in advance (``None``: decided during training).
    """

    input_ids: tuple[int, ...]
    position_ids: tuple[int, ...]
    segment: tuple[int, ...]
    targets: tuple[tuple[tuple[int, int], ...], ...]
    label: int
    known: bool | None = None


def _training_pairs(
    item: MCItem | OpenItem, format: PromptFormat, style: ClozeStyle
) -> list[tuple[str, str]]:
    """``(context, continuation)`` per option; an open-ended item's only "option" is its first answer."""
    if isinstance(item, OpenItem):
        return [gold_open_pair(item, style=style)]
    return option_pairs(item, format=format, style=style)


def pack_items(
    items: Sequence[MCItem] | Sequence[OpenItem],
    tokenizer: Any,
    *,
    max_length: int,
    format: PromptFormat = "cloze",
    style: ClozeStyle = "completion",
    known: Sequence[bool] | None = None,
) -> list[PackedExample]:
    """Tokenises items (as the scorer does) and packs each into one row.

    Open-ended items are packed with their first accepted answer as the one option (label 0); ``format``
    does not apply to them.

    Raises:
        InputError: If an item uses per-option contexts (``partial`` style), which cannot share a row.
    """
    from llmcal.errors import InputError

    encoder = PairEncoder(tokenizer, max_length)
    requests = []
    listed: list[MCItem | OpenItem] = list(items)
    for item in listed:
        pairs = _training_pairs(item, format, style)
        if len({context for context, _ in pairs}) != 1:
            raise InputError(f"item {item.id!r}: fine-tuning needs one context shared by all options.")
        requests.append(ScoringRequest(pairs[0][0], tuple(c for _, c in pairs), key=item.id))
    examples = []
    for index, (item, encoded) in enumerate(zip(listed, encoder.encode(requests), strict=True)):
        ids, positions, segment = (
            list(encoded.context),
            list(range(len(encoded.context))),
            [-1] * len(encoded.context),
        )
        last_context = len(ids) - 1
        targets = []
        for option, tokens in enumerate(encoded.continuations):
            start = len(ids)
            ids.extend(tokens[:-1])
            positions.extend(range(len(encoded.context), len(encoded.context) + len(tokens) - 1))
            segment.extend([option] * (len(tokens) - 1))
            # Token 0 is predicted at the context's last position, token j at the option's (j-1)th slot.
            sources = [last_context, *range(start, start + len(tokens) - 1)]
            targets.append(tuple(zip(sources, tokens, strict=True)))
        examples.append(
            PackedExample(
                tuple(ids),
                tuple(positions),
                tuple(segment),
                tuple(targets),
                item.answer if isinstance(item, MCItem) else 0,
                None if known is None else bool(known[index]),
            )
        )
    return examples


def collate(
    examples: Sequence[PackedExample], pad_id: int, pattern: AttentionPattern | None
) -> dict[str, torch.Tensor]:
    """Pads examples into a batch: packed rows under the model's attention pattern, or one row per option.

    Args:
        examples: Packed examples (:func:`pack_items`).
        pad_id: Padding token id.
        pattern: The model's attention rules where packing is proven exact for it
            (:func:`llmcal.scoring.attention.packing_pattern`); ``None`` gives each option its own
            right-padded row with a 2D padding mask, so the model builds its own mask and positions.

    Returns a dict with ``input_ids``, the mask (``attention_mask``: ``(batch, 1, length, length)``,
    True = may attend, or ``attention_mask.<layer type>`` per layer type; unpacked, a ``(rows, length)``
    padding mask),
    ``position_ids`` (packed only), ``labels``, ``option_mask`` (batch, K) and the gather plan
    ``target_row`` (model row), ``target_example``, ``target_position``, ``target_token``, ``target_option``.
    """
    if pattern is None:
        return _collate_unpacked(examples, pad_id)
    width = max(len(e.input_ids) for e in examples)
    batch = len(examples)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    position_ids = torch.zeros((batch, width), dtype=torch.long)
    segments = torch.full((batch, width), -1, dtype=torch.long)  # 0 context, k + 1 option k, -1 padding
    plan: list[tuple[int, int, int, int]] = []
    for row, example in enumerate(examples):
        length = len(example.input_ids)
        input_ids[row, :length] = torch.tensor(example.input_ids)
        position_ids[row, :length] = torch.tensor(example.position_ids)
        segments[row, :length] = torch.tensor(example.segment) + 1
        for option, pairs in enumerate(example.targets):
            plan.extend((row, position, token, option) for position, token in pairs)
    masks = block_mask(segments, position_ids, pattern)
    named = masks if isinstance(masks, dict) else {"": masks}
    return {
        "input_ids": input_ids,
        **{f"attention_mask.{name}" if name else "attention_mask": mask for name, mask in named.items()},
        "position_ids": position_ids,
        **_labels_and_plan(examples, plan, [row for row, *_ in plan]),
    }


def _collate_unpacked(examples: Sequence[PackedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """One right-padded row per (example, option): the context, then that option's tokens but its last."""
    rows: list[list[int]] = []
    plan: list[tuple[int, int, int, int]] = []
    example_of_target: list[int] = []
    for number, example in enumerate(examples):
        context = [t for t, segment in zip(example.input_ids, example.segment, strict=True) if segment == -1]
        for option, pairs in enumerate(example.targets):
            tokens = [token for _, token in pairs]
            row = len(rows)
            rows.append(context + tokens[:-1])
            # Token j of the option is predicted at the context's last position + j.
            plan.extend((row, len(context) - 1 + j, token, option) for j, token in enumerate(tokens))
            example_of_target.extend([number] * len(tokens))
    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    padding = torch.zeros((len(rows), width), dtype=torch.long)
    for row, ids in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        padding[row, : len(ids)] = 1
    return {
        "input_ids": input_ids,
        "attention_mask": padding,
        **_labels_and_plan(examples, plan, example_of_target),
    }


def _labels_and_plan(
    examples: Sequence[PackedExample], plan: list[tuple[int, int, int, int]], example_of_target: list[int]
) -> dict[str, torch.Tensor]:
    option_mask = torch.zeros((len(examples), max(len(e.targets) for e in examples)), dtype=torch.bool)
    for row, example in enumerate(examples):
        option_mask[row, : len(example.targets)] = True
    rows, positions, tokens, options = (
        torch.tensor(column, dtype=torch.long) for column in zip(*plan, strict=True)
    )
    return {
        "labels": torch.tensor([e.label for e in examples], dtype=torch.long),
        "option_mask": option_mask,
        "target_row": rows,
        "target_example": torch.tensor(example_of_target, dtype=torch.long),
        "target_position": positions,
        "target_token": tokens,
        "target_option": options,
    }


def model_config(model: Any) -> Any:
    """The config of ``model``, also when a data-parallel wrapper (DDP's ``.module``) holds it."""
    while not hasattr(model, "config") and hasattr(model, "module"):
        model = model.module
    return model.config


def _model_attention_mask(
    model: Any, batch: dict[str, torch.Tensor]
) -> torch.Tensor | dict[str, torch.Tensor]:
    """The batch's mask(s) as the model takes them (a dict keyed by layer type where its layers differ)."""
    prefix = "attention_mask."
    per_layer = {key[len(prefix) :]: value for key, value in batch.items() if key.startswith(prefix)}
    allowed = per_layer or batch["attention_mask"]
    if "position_ids" not in batch:
        return allowed  # a 2D padding mask: the model builds its own
    config = model_config(model)
    dtype = next(model.parameters()).dtype
    return model_mask(allowed, config._attn_implementation, dtype)


def option_log_likelihoods(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each option's log-likelihood (sum of full-vocabulary token log-probs), shape (batch, K).

    Padded options are ``-inf``, so a softmax over options ignores them.
    """
    scores, _ = option_forward(model, batch)
    return scores


def option_forward(
    model: Any, batch: dict[str, torch.Tensor], *, answer_tokens: bool = False
) -> tuple[torch.Tensor, AnswerTokenTerms | None]:
    """:func:`option_log_likelihoods`, and with ``answer_tokens`` the gold answers' full-vocabulary terms.

    The terms (:class:`~llmcal.finetune.losses.AnswerTokenTerms`) sum over the tokens of each example's
    gold option, from the same forward pass; they cost one full-vocabulary softmax per answer token.
    """
    rows, positions, examples = batch["target_row"], batch["target_position"], batch["target_example"]
    # The LM head runs only where a token is scored: a boolean (batch, length) mask makes the model return
    # (scored positions, vocab) logits in row-major order, skipping the context's projection and its
    # backward pass, the largest cost for a short-answer item.
    scored = torch.zeros(batch["input_ids"].shape, dtype=torch.bool, device=rows.device)
    scored[rows, positions] = True
    order = (scored.view(-1).cumsum(0) - 1).view(scored.shape)
    positional = {"position_ids": batch["position_ids"]} if "position_ids" in batch else {}
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=_model_attention_mask(model, batch),
        logits_to_keep=scored,
        **positional,
    ).logits  # (scored positions, vocab)
    picked = logits[order[rows, positions]].float()  # (targets, vocab)
    normaliser = picked.logsumexp(dim=1)
    token_logprobs = picked.gather(1, batch["target_token"].unsqueeze(1)).squeeze(1) - normaliser
    scores = torch.zeros(batch["option_mask"].shape, dtype=token_logprobs.dtype, device=token_logprobs.device)
    flat = examples * scores.shape[1] + batch["target_option"]
    scores.view(-1).index_add_(0, flat, token_logprobs)
    scores = scores.masked_fill(~batch["option_mask"], float("-inf"))
    if not answer_tokens:
        return scores, None
    log_p = picked - normaliser.unsqueeze(1)
    gold = batch["target_option"] == batch["labels"][examples]
    n_rows = scores.shape[0]
    terms = [
        torch.zeros(n_rows, dtype=log_p.dtype, device=log_p.device).index_add_(
            0, examples[gold], values[gold]
        )
        for values in (-log_p.mean(dim=1), (log_p.exp() * log_p).sum(dim=1))
    ]
    return scores, AnswerTokenTerms(uniform_cross_entropy=terms[0], negative_entropy=terms[1])
