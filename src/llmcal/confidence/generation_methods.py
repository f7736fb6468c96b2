"""Confidence in a generated answer: five single-pass ways to ask how sure the model is of what it wrote.

Each method reads a :class:`~llmcal.confidence.records.GenerationRecord` and returns the confidence that
the answer is right, in [0, 1], or ``None`` when the record gives none (a verbalised answer without a
readable probability):

- ``seq-prob``: the answer's sequence probability, ``exp(sum_j log p_j)`` over its tokens;
- ``mean-prob``: the length-normalised probability, the geometric mean ``exp(mean_j log p_j)``;
- ``min-prob``: the least likely token's probability, ``exp(min_j log p_j)``;
- ``p-true``: Kadavath et al. (2022): the model is shown its answer and asked whether it is true;
  ``P(True) / (P(True) + P(False))``;
- ``verbal``: Tian et al. (2023), Xiong et al. (2024): the model is asked for a probability and the
  number it writes is read (:mod:`llmcal.confidence.verbalized`).

The methods over several sampled answers register here too (:mod:`llmcal.confidence.sample_methods`).

A method is one :func:`generation_method` registration: its name, the pass whose output it reads besides
the answer (:mod:`llmcal.confidence.generation_passes`: the P(True) prompt is one scoring pass, the
verbalised prompt one more generation, and methods reading the answer alone share its pass; extraction
runs each pass once) and how it reads it. A method that can give no confidence says why (``why_none``),
so summaries count the answers by reason without knowing the method.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from llmcal.confidence.generation_passes import ANSWER, P_TRUE, VERBAL, GenerationPass
from llmcal.confidence.records import GenerationRecord
from llmcal.confidence.verbalized import read_verbal_confidence
from llmcal.registry import Registry

__all__ = ["GENERATION_METHODS", "GenerationMethod", "generation_method"]

ConfidenceReader = Callable[[GenerationRecord], float | None]
ReasonReader = Callable[[GenerationRecord], str]
UncertaintyReader = Callable[[GenerationRecord], float]


@dataclass(frozen=True)
class GenerationMethod:
    """A confidence method for generated answers.

    Attributes:
        name: The name users choose it by (``--methods``).
        needs: The pass whose output it reads; methods sharing a pass share one run of it.
        confidence: The confidence in a record's answer, or ``None`` if the record gives none.
        why_none: Why ``confidence`` gave a record none, in a few words that group alike records.
        uncertainty: For a method that measures uncertainty (an entropy, a count): the raw score, of
            which ``confidence`` is a fixed decreasing map onto [0, 1]; ``None`` for the others.
    """

    name: str
    needs: GenerationPass
    confidence: ConfidenceReader
    why_none: ReasonReader = lambda record: "no confidence"
    uncertainty: UncertaintyReader | None = None


GENERATION_METHODS: Registry[GenerationMethod] = Registry("confidence method for generated answers")
"""Every generation confidence method by name, in registration order; filled by :func:`generation_method`."""


def generation_method(
    name: str,
    needs: GenerationPass,
    *,
    why_none: ReasonReader | None = None,
    uncertainty: UncertaintyReader | None = None,
) -> Callable[[ConfidenceReader], ConfidenceReader]:
    """Decorator registering a confidence reader as the method ``name`` needing pass ``needs``.

    Args:
        name: The method's name.
        needs: The pass whose output it reads (:data:`~llmcal.confidence.generation_passes.ANSWER` for the
            answer alone).
        why_none: For a method that may give no confidence: why it gave a record none.
        uncertainty: For a method measuring uncertainty: its raw score.

    Raises:
        ValueError: If a method called ``name`` is already registered.
    """

    def register(confidence: ConfidenceReader) -> ConfidenceReader:
        method = GenerationMethod(name, needs, confidence, uncertainty=uncertainty)
        GENERATION_METHODS.add(name, method if why_none is None else replace(method, why_none=why_none))
        return confidence

    return register


@generation_method("seq-prob", ANSWER)
def _sequence_probability(record: GenerationRecord) -> float:
    return math.exp(math.fsum(record.generation.answer_logprobs))


@generation_method("mean-prob", ANSWER)
def _geometric_mean_probability(record: GenerationRecord) -> float:
    logprobs = record.generation.answer_logprobs
    return math.exp(math.fsum(logprobs) / len(logprobs))


@generation_method("min-prob", ANSWER)
def _least_likely_token(record: GenerationRecord) -> float:
    return math.exp(min(record.generation.answer_logprobs))


@generation_method("p-true", P_TRUE)
def _p_true(record: GenerationRecord) -> float | None:
    if record.p_true is None:
        return None
    true, false = record.p_true
    # P(True) / (P(True) + P(False)) as a logistic of the log-odds: no underflow for unlikely words.
    return 1.0 / (1.0 + math.exp(false - true)) if false - true < 700 else 0.0


def _unreadable(record: GenerationRecord) -> str:
    return read_verbal_confidence(record.verbal or "").reason or "unreadable"


@generation_method("verbal", VERBAL, why_none=_unreadable)
def _verbalised(record: GenerationRecord) -> float | None:
    return None if record.verbal is None else read_verbal_confidence(record.verbal).value
