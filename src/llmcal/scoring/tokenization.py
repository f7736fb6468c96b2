"""Context/continuation tokenisation exactly as lm-evaluation-harness does it.

Trailing whitespace of the context moves to the continuation; the continuation's tokens are those of
``tok(context + continuation)`` after ``len(tok(context))`` (so a word split across the boundary is
tokenised as it would be in running text); an empty context is replaced by the BOS (else EOS) token; texts
that already start with BOS are encoded without special tokens. Scorers and trainers share this, so a
fine-tuned option's training loss and its evaluation score are the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from llmcal.errors import InputError
from llmcal.scoring.requests import ScoringRequest

__all__ = ["EncodedRequest", "PairEncoder"]


@dataclass
class EncodedRequest:
    """A request after tokenisation; ``index`` is its position in the caller's list."""

    index: int
    key: str
    context: list[int]
    continuations: list[list[int]]

    @property
    def cost(self) -> int:
        """Tokens of the context plus the longest continuation (what the batch token budget counts)."""
        return len(self.context) + max(len(c) for c in self.continuations)

    @property
    def packed_length(self) -> int:
        """Tokens of the context and of every continuation but its last: one row holding them all."""
        return len(self.context) + sum(len(c) - 1 for c in self.continuations)


class PairEncoder:
    """Encodes :class:`ScoringRequest` s into token ids.

    Args:
        tokenizer: A Hugging Face tokenizer (fast tokenizers encode in parallel batches).
        max_length: Longest sequence; longer contexts are truncated on the left.
    """

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        # Prompts cut on the left so far (they no longer fit the model's context); callers report them.
        self.truncated = 0
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        self.prefix_token_id: int = bos if bos is not None else eos
        self._prefix_text = (
            None if self.prefix_token_id is None else str(tokenizer.decode([self.prefix_token_id]))
        )

    def _special_tokens_flag(self, text: str, forced: bool | None) -> bool | None:
        """lm-eval's choice of ``add_special_tokens`` for ``text`` (``None``: the tokenizer's default)."""
        if forced is not None:
            return forced
        if self._prefix_text and text.startswith(self._prefix_text):
            return False  # the text already carries its BOS
        return None

    def _encode_all(self, texts: list[tuple[str, bool | None]]) -> list[list[int]]:
        """Encodes many texts with one batched (multi-threaded) tokenizer call per special-token setting."""
        encoded: list[list[int]] = [[] for _ in texts]
        groups: dict[bool | None, list[int]] = {}
        for position, (text, forced) in enumerate(texts):
            groups.setdefault(self._special_tokens_flag(text, forced), []).append(position)
        for flag, positions in groups.items():
            kwargs = {} if flag is None else {"add_special_tokens": flag}
            ids = self.tokenizer([texts[p][0] for p in positions], **kwargs)["input_ids"]
            for position, row in zip(positions, ids, strict=True):
                encoded[position] = list(row)
        return encoded

    def encode_prompts(self, texts: Sequence[str], *, room: int) -> list[list[int]]:
        """Token ids of prompts to generate from, left-truncated to leave ``room`` new tokens.

        Encoded as lm-evaluation-harness's ``generate_until`` encodes them (the tokenizer's own special
        tokens, none added twice); an empty prompt is the BOS (else EOS) token.

        Raises:
            InputError: If ``room`` leaves no space for a prompt within ``max_length``.
        """
        budget = self.max_length - room
        if budget < 1:
            raise InputError(
                f"max_new_tokens {room} leaves no room for a prompt within the model's "
                f"{self.max_length} tokens."
            )
        encoded = self._encode_all([(text, None) for text in texts])
        self.truncated += sum(len(ids) > budget for ids in encoded)
        return [ids[-budget:] if ids else [self.prefix_token_id] for ids in encoded]

    def encode(self, requests: Sequence[ScoringRequest]) -> list[EncodedRequest]:
        """Context and continuation token ids of every request, in order.

        Raises:
            InputError: If a request has no continuations, a continuation has no tokens of its own, or
                a continuation is longer than ``max_length``.
        """
        texts: list[tuple[str, bool | None]] = []
        for index, request in enumerate(requests):
            if not request.continuations:
                raise InputError(f"{request.key or f'request {index}'}: nothing to score (no continuations).")
            if request.context == "":
                texts.extend((text, False) for text in request.continuations)
                continue
            context = request.context.rstrip()
            moved = request.context[len(context) :]
            texts.append((context, None))
            texts.extend((context + moved + text, None) for text in request.continuations)
        ids = iter(self._encode_all(texts))
        return [self._split_request(index, request, ids) for index, request in enumerate(requests)]

    def _split_request(self, index: int, request: ScoringRequest, ids: Iterator[list[int]]) -> EncodedRequest:
        """Context and continuation tokens of one request, from the texts :meth:`encode` encoded."""
        name = request.key or f"request {index}"
        if request.context == "":
            # An empty context conditions on the BOS/EOS token, as lm-evaluation-harness does.
            continuations = [next(ids) for _ in request.continuations]
            return EncodedRequest(index, request.key, [self.prefix_token_id], continuations)
        context_ids = next(ids)
        continuations = []
        for text in request.continuations:
            # The continuation is what follows the context's tokens in the encoding of the whole text.
            continuation = next(ids)[len(context_ids) :]
            if not continuation:
                raise InputError(f"{name}: continuation {text!r} has no tokens.")
            continuations.append(continuation)
        longest = max(len(c) for c in continuations)
        # Keep the sequence within max_length by dropping context tokens on the left (lm-eval does the
        # same per pair; with a shared context the longest continuation decides).
        overflow = len(context_ids) + longest - 1 - self.max_length
        if overflow > 0:
            context_ids = context_ids[overflow:]
            self.truncated += 1
        if not context_ids:
            raise InputError(f"{name}: a continuation is longer than max_length.")
        return EncodedRequest(index, request.key, context_ids, continuations)
