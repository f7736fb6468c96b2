"""How answers are sampled: the settings every backend honours and the seed each sample is drawn from.

The defaults are the UQ libraries' (lm-polygraph, uqlm, ``transformers.generate``): temperature 1.0,
top-k 50, top-p 1.0. A token is drawn from the model's next-token distribution after temperature, then
top-k, then top-p (the order of ``transformers``' logits warpers); the log-probability recorded for it is
the model's own (temperature 1, nothing filtered), so a sample's likelihood is comparable with the greedy
answer's.

**Reproducible by sample, not by batch.** Every sample has its own random stream, seeded from the run's
seed, the prompt, the requester's key and the sample's number (:func:`sample_seed`); each token consumes
one uniform draw from it. So a sample is the same whatever the batch size, the order of the prompts or the
number of other samples drawn, and a resumed run draws what the uninterrupted one drew.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from llmcal.errors import InputError

__all__ = ["DEFAULT_SAMPLES", "SamplingSettings", "sample_seed"]

DEFAULT_SAMPLES = 10
"""Samples per item when a method over samples is asked for and ``--samples`` is not given."""


@dataclass(frozen=True)
class SamplingSettings:
    """How many answers to sample per prompt, and from what distribution.

    Attributes:
        samples: Answers per prompt (at least 2: a method over samples compares them).
        temperature: Divides the logits; 0 picks the most likely token (every sample is the greedy answer).
        top_k: Only the ``top_k`` most likely tokens may be drawn; 0 turns the filter off.
        top_p: Only the smallest set of most likely tokens holding at least ``top_p`` of the probability
            may be drawn (nucleus sampling); 1.0 turns the filter off.
        seed: The run's sampling seed.
    """

    samples: int = DEFAULT_SAMPLES
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 2:
            raise InputError(
                f"`samples` must be an integer of at least 2 (methods over samples compare several "
                f"answers); got {self.samples!r}.",
                parameter="samples",
            )
        if (
            isinstance(self.temperature, bool)
            or not isinstance(self.temperature, int | float)
            or not 0.0 <= self.temperature < float("inf")
        ):
            raise InputError(
                f"`temperature` must be a finite number >= 0 (1.0 samples the model's own distribution, "
                f"0 always picks the most likely token); got {self.temperature!r}.",
                parameter="temperature",
            )
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise InputError(
                f"`top_k` must be an integer >= 0 (0 turns the filter off); got {self.top_k!r}.",
                parameter="top_k",
            )
        if (
            isinstance(self.top_p, bool)
            or not isinstance(self.top_p, int | float)
            or not 0.0 < self.top_p <= 1.0
        ):
            raise InputError(
                f"`top_p` must be a number in (0, 1] (1.0 turns the filter off); got {self.top_p!r}.",
                parameter="top_p",
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"`seed` must be an integer >= 0; got {self.seed!r}.", parameter="seed")
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "top_p", float(self.top_p))


def sample_seed(seed: int, context: str, key: str, number: int) -> int:
    r"""The seed of sample ``number`` of the prompt ``context`` asked for by ``key``: 64 bits of a SHA-256.

    Independent of ``PYTHONHASHSEED``, the batch and every other sample.

    Examples:
        >>> sample_seed(0, "Q: 2+2?\nA:", "item-1", 0) == sample_seed(0, "Q: 2+2?\nA:", "item-1", 0)
        True
        >>> sample_seed(0, "Q: 2+2?\nA:", "item-1", 0) == sample_seed(0, "Q: 2+2?\nA:", "item-1", 1)
        False
    """
    digest = hashlib.sha256(f"{seed}\x00{number}\x00{key}\x00{context}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
