"""How a generated continuation ends, from its tokens alone: the answer text and why it stopped.

Shared by the in-process greedy loop (:mod:`llmcal.scoring.generation`), which asks after every token
whether the row has finished, and the server backend (:mod:`llmcal.scoring.server`), which gets every token
at once and reads the same ending from them, so both cut answers at stop strings and count answer tokens
the same way.

A stop string may start inside a token (``"Paris."`` with stop ``"."``) and span several tokens; the answer
is the decoded text up to the stop string, as lm-evaluation-harness's ``generate_until`` cuts it, and
:attr:`~llmcal.scoring.requests.Generation.n_answer_tokens` counts the tokens that spell it: the shortest
prefix of the generated tokens whose text covers the answer (a token holding both the answer's end and the
stop string's start is an answer token; tokens wholly inside the stop string are not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmcal.scoring.requests import Generation, StopReason

__all__ = ["cut_at_stop", "end_of_text_ids", "ending"]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    r"""``text`` up to the earliest stop string, and whether one was found.

    Examples:
        >>> cut_at_stop(" Paris. It is", (".", "\n"))
        (' Paris', True)
    """
    ends = [position for position in (text.find(string) for string in stop if string) if position >= 0]
    return (text[: min(ends)], True) if ends else (text, False)


def end_of_text_ids(tokenizer: Any, configured: int | list[int] | None) -> frozenset[int]:
    """The tokens that end a generation: the generation config's (one or several) and the tokenizer's.

    Examples:
        >>> from types import SimpleNamespace
        >>> sorted(end_of_text_ids(SimpleNamespace(eos_token_id=2), [2, 7]))
        [2, 7]
    """
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    return frozenset(token for token in ids if isinstance(token, int))


def ending(
    tokenizer: Any,
    tokens: Sequence[int],
    logprobs: Sequence[float],
    stop: Sequence[str],
    eos_ids: frozenset[int],
    *,
    out_of_tokens: bool,
) -> Generation | None:
    """The generation ``tokens`` make if their last token ended it, else ``None`` (it goes on).

    Args:
        tokenizer: Decodes the tokens (special tokens kept, as stop strings are searched in them).
        tokens: Every token generated so far (at least one).
        logprobs: Each token's log-probability.
        stop: Stop strings; the answer is the text before the first one.
        eos_ids: End-of-text token ids; a generation ends after one (which is not part of the answer).
        out_of_tokens: Whether no further token may be generated (the new-token limit is reached).
    """
    reason: StopReason
    if tokens[-1] in eos_ids:
        text, n_answer, reason = _decode(tokenizer, tokens[:-1]), len(tokens) - 1, "eos"
    else:
        text, stopped = cut_at_stop(_decode(tokenizer, tokens), stop)
        if stopped:
            n_answer, reason = _tokens_spelling(tokenizer, tokens, len(text)), "stop"
        elif out_of_tokens:
            n_answer, reason = len(tokens), "length"
        else:
            return None
    return Generation(text, tuple(tokens), tuple(logprobs), n_answer, reason)


def _tokens_spelling(tokenizer: Any, tokens: Sequence[int], length: int) -> int:
    """The fewest leading ``tokens`` whose decoded text is at least ``length`` characters long.

    The stop string was found in the text of all of ``tokens``, so the answer's tokens are a prefix; the
    search runs from the end, where a stop string of a few tokens leaves the answer.
    """
    count = len(tokens)
    while count > 0 and len(_decode(tokenizer, tokens[: count - 1])) >= length:
        count -= 1
    return count


def _decode(tokenizer: Any, tokens: Sequence[int]) -> str:
    return str(tokenizer.decode(list(tokens), skip_special_tokens=False)) if tokens else ""
