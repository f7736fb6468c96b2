"""The completions endpoint's wire format: the payloads llmcal sends and how it reads the answers.

Every generation sets the sampling fields it relies on, so a server's defaults (vLLM applies the model's
``generation_config.json``: a repetition penalty, say) cannot change an answer: greedy answers are
``temperature: 0`` without penalties, samples carry their temperature, top-k, top-p and seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llmcal.errors import InputError
from llmcal.scoring.requests import ContinuationScore, ProgressCallback
from llmcal.scoring.sampling import SamplingSettings

__all__ = [
    "COMPLETIONS",
    "choices_of",
    "continuation_score",
    "generation_payload",
    "progress_of",
    "scoring_payload",
]

COMPLETIONS = "/v1/completions"

_NO_PENALTIES = {"repetition_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}
_GREEDY = {"temperature": 0.0, "top_p": 1.0, **_NO_PENALTIES}


def scoring_payload(model: str, prompts: list[list[int]]) -> dict[str, Any]:
    """Prompts whose every token's log-probability and rank is wanted (one token generated, ignored)."""
    return {"model": model, "prompt": prompts, "max_tokens": 1, "prompt_logprobs": 0, **_GREEDY}


def generation_payload(
    model: str,
    prompts: list[list[int]],
    stop: tuple[str, ...],
    max_new_tokens: int,
    *,
    sampling: tuple[SamplingSettings, int] | None = None,
) -> dict[str, Any]:
    """Prompts to continue, each generated token's id and log-probability returned.

    Args:
        model: The served model's name.
        prompts: Token ids of each prompt.
        stop: The strings an answer ends at (the server returns them, to be cut as in-process).
        max_new_tokens: The most tokens per answer.
        sampling: ``None`` for greedy answers; else the settings and seed of ``settings.samples`` answers
            per prompt (``n``).
    """
    payload: dict[str, Any] = {
        "model": model,
        "prompt": prompts,
        "max_tokens": max_new_tokens,
        "logprobs": 0,
        "stop": [text for text in stop if text],
        "include_stop_str_in_output": True,  # cut here, as the in-process loop cuts
        "skip_special_tokens": False,
        "return_token_ids": True,
        "return_tokens_as_token_ids": True,
    }
    if sampling is None:
        return {**payload, **_GREEDY}
    settings, seed = sampling
    return {
        **payload,
        "n": settings.samples,
        "seed": seed % 2**63,  # vLLM takes a signed 64-bit seed
        "temperature": settings.temperature,
        "top_k": settings.top_k if settings.top_k > 0 else -1,  # vLLM's "no filter"
        "top_p": settings.top_p,
        **_NO_PENALTIES,
    }


def progress_of(on_progress: ProgressCallback | None, sizes: list[int]) -> Callable[[int], None] | None:
    """Reports a finished request's number of prompts (requests of the caller) to ``on_progress``."""
    if on_progress is None:
        return None
    return lambda index: on_progress(sizes[index])


def choices_of(answer: Any, expected: int, urls: Sequence[str]) -> list[dict[str, Any]]:
    """A completion answer's choices in prompt order (servers may list them as they finish).

    Raises:
        InputError: If there is not one choice per prompt.
    """
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or len(choices) != expected:
        raise InputError(
            f"{', '.join(urls)} answered {len(choices) if isinstance(choices, list) else 'no'} choices where "
            f"{expected} were asked for; is it an OpenAI-compatible completions endpoint?",
            parameter="servers",
        )
    return sorted(choices, key=lambda choice: int(choice.get("index", 0)))


def continuation_score(
    choice: dict[str, Any], prompt: list[int], n_tokens: int, key: str
) -> ContinuationScore:
    """The last ``n_tokens`` prompt tokens' log-probabilities and whether each was the argmax (rank 1).

    Raises:
        InputError: If the server's prompt log-probabilities do not cover those tokens.
    """
    entries = choice.get("prompt_logprobs")
    if not isinstance(entries, list) or len(entries) != len(prompt):
        raise InputError(
            f"{key}: the server returned {len(entries) if isinstance(entries, list) else 'no'} prompt "
            f"log-probabilities for a prompt of {len(prompt)} tokens.",
            parameter="servers",
        )
    logprobs, greedy = [], True
    for position in range(len(prompt) - n_tokens, len(prompt)):
        entry = entries[position]
        found = entry.get(str(prompt[position])) if isinstance(entry, dict) else None
        if not isinstance(found, dict) or "logprob" not in found:
            raise InputError(
                f"{key}: the server's prompt log-probabilities lack token {prompt[position]} at position "
                f"{position}.",
                parameter="servers",
            )
        logprobs.append(float(found["logprob"]))
        greedy = greedy and found.get("rank") == 1
    return ContinuationScore(tuple(logprobs), greedy)
