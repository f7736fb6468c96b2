"""Pretrain a tiny GPT-2 from scratch on the world's corpus until it recalls the known facts.

Memorisation in such models arrives in a late jump after a plateau, so training runs until fact recall
passes a target (checked after every pass on a fixed sample of known facts), bounded by ``max_passes``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from llmcal.scoring.requests import ContinuationScore, ScoringRequest
from llmcal.world.generator import Entity, PretrainConfig, World
from llmcal.world.text import fact_prompt, pretraining_sentences

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

__all__ = ["PassReport", "RecallProbe", "fact_recall", "pretrain", "ranks_target_first"]

# Known facts sampled for the per-pass recall check: enough for a +-3% estimate, cheap to score.
_RECALL_SAMPLE = 400


@dataclass(frozen=True)
class PassReport:
    """What one pretraining pass achieved.

    Attributes:
        number: 1-based pass number.
        loss: Mean training loss over the pass.
        recall: Sampled recall of known facts after the pass (``None`` before ``min_passes``).
    """

    number: int
    loss: float
    recall: float | None


def fact_recall(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    world: World,
    facts: Sequence[tuple[Entity, int]],
) -> float:
    """Share of ``(entity, attribute)`` facts whose value the model ranks first among all 12 values.

    Each value is scored as a continuation of the fact prompt (sum of token log-probabilities), so values
    of several words compete fairly with one-word values. Chance is 1/12.
    """
    if not facts:
        return float("nan")
    return RecallProbe(model, tokenizer, world, facts).recall()


class RecallProbe:
    """:func:`fact_recall` of a fixed set of facts, measured again and again as the model trains.

    The prompts are tokenised once; each :meth:`recall` is one scoring pass under the current weights
    (train mode is restored afterwards).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerFast,
        world: World,
        facts: Sequence[tuple[Entity, int]],
    ) -> None:
        from llmcal.scoring.hf import HFBackend

        requests = [
            ScoringRequest(
                fact_prompt(world, entity, attribute), tuple(f" {v}" for v in world.attributes[attribute][1])
            )
            for entity, attribute in facts
        ]
        self.model = model
        self.targets = [entity.values[attribute] for entity, attribute in facts]
        was_training = model.training
        self.backend = HFBackend(
            "in-memory", device="cpu", dtype="float32", model_object=model, tokenizer=tokenizer
        )
        self.encoded = self.backend.encoder.encode(requests)
        model.train(was_training)

    def recall(self) -> float:
        """Share of the facts whose value the model now ranks first."""
        was_training = self.model.training
        self.model.eval()  # type: ignore[no-untyped-call]
        scores = self.backend.score_encoded(self.encoded)
        self.model.train(was_training)
        return float(np.mean(_target_first(scores, self.targets)))


def _target_first(scores: Sequence[Sequence[ContinuationScore]], targets: Sequence[int]) -> list[bool]:
    """Per request, whether its ``targets[i]``-th continuation has the highest log-likelihood."""
    return [
        int(np.argmax([score.total for score in options])) == target
        for options, target in zip(scores, targets, strict=True)
    ]


def ranks_target_first(
    model: Any, tokenizer: Any, requests: Sequence[ScoringRequest], targets: Sequence[int]
) -> list[bool]:
    """Per request, whether its ``targets[i]``-th continuation has the highest log-likelihood.

    Scores with the in-memory model (train mode is restored afterwards, so this can run mid-training).
    """
    from llmcal.scoring.hf import HFBackend

    was_training = model.training
    backend = HFBackend("in-memory", device="cpu", dtype="float32", model_object=model, tokenizer=tokenizer)
    hits = _target_first(backend.score(requests), targets)
    if was_training:
        model.train()
    return hits


@dataclass(frozen=True)
class _Corpus:
    """The world's pretraining sentences, tokenised, and how often each is read per pass."""

    sentences: list[list[int]]
    copies: list[int]
    width: int  # tokens per training row (the model's context)
    bos: int
    pad: int

    @classmethod
    def of(cls, world: World, tokenizer: PreTrainedTokenizerFast, width: int) -> _Corpus:
        """The corpus of ``world`` (:func:`~llmcal.world.text.pretraining_sentences`), tokenised."""
        texts, copies = zip(*pretraining_sentences(world), strict=True)
        sentences = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return cls(sentences, list(copies), width, int(tokenizer.bos_token_id), int(tokenizer.pad_token_id))

    def rows(self, rng: random.Random) -> Any:
        """One pass of training rows: every sentence ``copies`` times, shuffled, packed whole into rows."""
        import torch

        order = [index for index, count in enumerate(self.copies) for _ in range(count)]
        rng.shuffle(order)
        rows: list[list[int]] = []
        current: list[int] = []
        for index in order:
            if len(current) + len(self.sentences[index]) > self.width - 1:
                rows.append(current)
                current = []
            current.extend(self.sentences[index])
        rows.append(current)
        batch = torch.full((len(rows), self.width), self.pad, dtype=torch.long)
        batch[:, 0] = self.bos
        for row, tokens in enumerate(rows):
            batch[row, 1 : 1 + len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        return batch


def _learning_rate(step: int, total: int, peak: float) -> float:
    """Linear warm-up over 5% of the steps, then cosine decay to 10% of the peak."""
    warmup = max(1, total // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def pretrain(
    world: World,
    tokenizer: PreTrainedTokenizerFast,
    config: PretrainConfig,
    *,
    seed: int,
    on_pass: Callable[[PassReport], None] | None = None,
) -> tuple[PreTrainedModel, list[PassReport]]:
    """Trains a fresh GPT-2 on the world's corpus until sampled recall reaches ``config.recall_target``.

    Returns:
        The model (in eval mode) and one report per pass.
    """
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = _fresh_gpt2(tokenizer, config)
    corpus = _Corpus.of(world, tokenizer, config.context)
    known_facts = [(e, a) for e in world.entities if e.known for a in range(len(world.attributes))]
    sample = random.Random(seed + 1).sample(known_facts, min(_RECALL_SAMPLE, len(known_facts)))
    probe = RecallProbe(model, tokenizer, world, sample)

    first_pass = corpus.rows(rng)
    steps_per_pass = max(1, len(first_pass) // config.batch_size)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, betas=(0.9, 0.98), weight_decay=0.0
    )
    reports: list[PassReport] = []
    for number in range(1, config.max_passes + 1):
        rows = first_pass if number == 1 else corpus.rows(rng)
        steps = range((number - 1) * steps_per_pass, number * steps_per_pass)
        loss = _train_pass(model, optimizer, rows, config, steps=steps, pad=corpus.pad)
        recall = probe.recall() if number >= config.min_passes else None
        report = PassReport(number, loss, recall)
        reports.append(report)
        if on_pass is not None:
            on_pass(report)
        if recall is not None and recall >= config.recall_target:
            break
    model.eval()  # type: ignore[no-untyped-call]
    return model, reports


def _fresh_gpt2(tokenizer: PreTrainedTokenizerFast, config: PretrainConfig) -> PreTrainedModel:
    """A randomly initialised GPT-2 of ``config``'s size over ``tokenizer``'s vocabulary (torch's RNG)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    model_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.context,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=0.0,  # a tiny model memorising facts gains nothing from dropout
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(model_config)
    # transformers infers the loss from the class name, which "GPT2LMHeadModel" does not spell, and warns.
    model.loss_type = "ForCausalLM"
    return model


def _train_pass(
    model: Any, optimizer: Any, rows: Any, config: PretrainConfig, *, steps: range, pad: int
) -> float:
    """One pass over ``rows`` in random order, a batch per step of ``steps``; returns the mean loss.

    ``steps`` numbers the pass's optimiser steps among all passes', for the learning-rate schedule.
    """
    import torch

    total_steps = (steps.stop - steps.start) * config.max_passes
    order = torch.randperm(len(rows))
    model.train()
    losses = []
    for batch_index, step in enumerate(steps):
        batch = rows[order[batch_index * config.batch_size : (batch_index + 1) * config.batch_size]]
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, total_steps, config.learning_rate)
        padding = batch == pad
        labels = batch.masked_fill(padding, -100)
        loss = model(input_ids=batch, attention_mask=~padding, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses))
