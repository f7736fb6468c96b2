"""What a model server offers, found before a run starts: the model, its context, its log-probabilities.

Asked of every server a backend is given (replicas must agree):

- ``GET /v1/models``: is the model served under this name, and with what context length (vLLM's
  ``max_model_len``) and weights folder (``root``);
- ``GET /version``: the server's version, if it says;
- one ``POST /v1/completions`` of a probe text with ``prompt_logprobs`` and ``logprobs``: whether the
  server gives prompt log-probabilities (scoring continuations needs them) and generated tokens' ids and
  log-probabilities (generating needs them), and how it tokenises the text, which must be how the local
  tokenizer does: llmcal sends token ids, and ids of another vocabulary would be scored as other words.

A server that offers less is not refused here: the operations it cannot do are listed with the reason,
and a run whose methods need one is refused before it starts (:func:`llmcal.evaluation.evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmcal.errors import InputError
from llmcal.scoring.requests import BackendOperation
from llmcal.scoring.server_client import ServerClient, ServerRefusalError

__all__ = ["PROBE_TEXT", "ServedModel", "generated_ids", "probe_server", "served_entry"]

# Words, digits, punctuation, accents, CJK, an emoji and runs of spaces: texts where vocabularies differ.
PROBE_TEXT = (
    "The capital of Burkina Faso is Ouagadougou. 1234 + 5678 = 6912; naïve café, 東京 🙂\n  two  spaces"
)
_NO_PROMPT_LOGPROBS = (
    "the server gives no prompt log-probabilities (vLLM's `prompt_logprobs` field), which scoring "
    "continuations needs"
)


@dataclass(frozen=True)
class ServedModel:
    """What a server said about the model it serves.

    Attributes:
        url: The server.
        max_model_len: The longest sequence (prompt and generated tokens) it accepts.
        root: The weights it loaded (a folder or hub id), if it says.
        version: The server's version, if it says.
        unavailable: Operations it cannot do, each with the reason.
        tokenization_checked: Whether its tokenisation of :data:`PROBE_TEXT` was compared with the local one.
    """

    url: str
    max_model_len: int
    root: str | None
    version: str | None
    unavailable: dict[BackendOperation, str] = field(default_factory=dict)
    tokenization_checked: bool = False


def probe_server(
    client: ServerClient, url: str, model: str, entry: dict[str, Any], tokenizer: Any
) -> ServedModel:
    """Asks ``url`` about ``model`` (``entry``: its ``/v1/models`` entry): context, abilities, tokenisation.

    Raises:
        InputError: If the server tokenises the probe text otherwise than ``tokenizer`` (scores would be of
            other tokens).
        ServerError: If the server cannot be reached.
    """
    max_model_len = entry.get("max_model_len")
    if not isinstance(max_model_len, int) or max_model_len < 2:
        # Servers other than vLLM may not say; the tokenizer's own limit is the best guess left.
        max_model_len = _tokenizer_limit(tokenizer)
    root = entry.get("root")
    served = ServedModel(url, max_model_len, str(root) if root else None, _version(client, url))
    return _probe_completions(client, served, model, tokenizer)


def served_entry(client: ServerClient, url: str, model: str) -> dict[str, Any]:
    """``url``'s ``/v1/models`` entry of ``model``.

    Raises:
        InputError: If ``url`` lists no models, or not ``model`` (the message lists what it serves).
    """
    try:
        listing = client.get(url, "/v1/models")
    except ServerRefusalError as refusal:
        raise InputError(
            f"{url} did not list its models (HTTP {refusal.status} on /v1/models); is it an "
            "OpenAI-compatible server? Give `servers` as http://host:port of vLLM, SGLang or similar.",
            parameter="servers",
        ) from None
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list):
        raise InputError(f"{url}/v1/models answered without a 'data' list of models.", parameter="servers")
    served = {str(item.get("id")): item for item in entries if isinstance(item, dict)}
    if model not in served:
        raise InputError(
            f"`model` {model!r} is not served by {url}; it serves "
            f"{', '.join(map(repr, served)) or 'nothing'}. "
            "Pass the served name (vLLM's --served-model-name, else its --model).",
            parameter="model",
        )
    return served[model]


def _version(client: ServerClient, url: str) -> str | None:
    try:
        answer = client.get(url, "/version")
    except ServerRefusalError:
        return None
    return str(answer["version"]) if isinstance(answer, dict) and "version" in answer else None


def _tokenizer_limit(tokenizer: Any) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 2 <= limit < 10**7 else 2048


def _probe_completions(client: ServerClient, served: ServedModel, model: str, tokenizer: Any) -> ServedModel:
    """One completion of :data:`PROBE_TEXT`: what the server returns, and its tokenisation checked."""
    payload: dict[str, Any] = {
        "model": model,
        "prompt": PROBE_TEXT,
        "max_tokens": 1,
        "temperature": 0.0,
        "logprobs": 0,
        "prompt_logprobs": 0,
        "return_token_ids": True,
        "return_tokens_as_token_ids": True,
    }
    unavailable: dict[BackendOperation, str] = {}
    try:
        answer = client.post("/v1/completions", payload, url=served.url)
    except ServerRefusalError as refusal:
        if refusal.status in (404, 405):
            reason = (
                "the server has no /v1/completions endpoint (a chat-only API gives no log-probabilities "
                "of a given text)"
            )
            return _with(served, {"score": reason, "generate": reason, "sample": reason}, checked=False)
        # A server that rejects the field outright (rather than ignoring it): ask again without it.
        del payload["prompt_logprobs"]
        unavailable["score"] = f"{_NO_PROMPT_LOGPROBS} ({refusal.reason})"
        answer = client.post("/v1/completions", payload, url=served.url)
    choice = _first_choice(answer, served.url)
    if "score" not in unavailable and not isinstance(choice.get("prompt_logprobs"), list):
        unavailable["score"] = _NO_PROMPT_LOGPROBS
    if generated_ids(choice) is None:
        unavailable["generate"] = (
            "the server does not say which tokens it generated (vLLM's `return_token_ids` or "
            "`return_tokens_as_token_ids`), whose log-probabilities the confidence methods read"
        )
        unavailable["sample"] = unavailable["generate"]
    return _with(served, unavailable, checked=_check_tokenization(choice, tokenizer, served.url))


def _with(served: ServedModel, unavailable: dict[BackendOperation, str], *, checked: bool) -> ServedModel:
    return ServedModel(served.url, served.max_model_len, served.root, served.version, unavailable, checked)


def _first_choice(answer: Any, url: str) -> dict[str, Any]:
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InputError(f"{url}/v1/completions answered without 'choices'.", parameter="servers")
    return choices[0]


def _check_tokenization(choice: dict[str, Any], tokenizer: Any, url: str) -> bool:
    """Compares the server's tokens of :data:`PROBE_TEXT` with the local tokenizer's.

    Returns:
        Whether they could be compared (the server reported its prompt's token ids).

    Raises:
        InputError: If they differ.
    """
    server = _prompt_ids(choice)
    if server is None:
        return False
    local = list(tokenizer(PROBE_TEXT)["input_ids"])
    # prompt_logprobs has no entry for the first token (nothing precedes it): compare what both give.
    if len(server) < len(local):
        local = local[len(local) - len(server) :]
    if server != local:
        at = next(
            (i for i, (a, b) in enumerate(zip(server, local, strict=False)) if a != b),
            min(len(server), len(local)),
        )
        raise InputError(
            f"{url} tokenises a probe text otherwise than the local tokenizer ({len(server)} vs {len(local)} "
            f"tokens, first difference at token {at}: {server[at : at + 3]} vs {local[at : at + 3]}). llmcal "
            "sends token ids, so the server would score other words. Pass `tokenizer` as the served model's "
            "own tokenizer (its folder or hub id).",
            parameter="tokenizer",
        )
    return True


def _prompt_ids(choice: dict[str, Any]) -> list[int] | None:
    """The prompt's token ids as the server tokenised it, or ``None`` if it does not say.

    vLLM's ``prompt_token_ids``, else the keys of ``prompt_logprobs`` (every position but the first).
    """
    ids = choice.get("prompt_token_ids")
    if isinstance(ids, list) and all(isinstance(token, int) for token in ids):
        return ids
    entries = choice.get("prompt_logprobs")
    if isinstance(entries, list) and entries:
        read = [next(iter(entry), None) if isinstance(entry, dict) else None for entry in entries[1:]]
        if all(isinstance(key, str) and key.isdigit() for key in read):
            return [int(key) for key in read if key is not None]
    return None


def generated_ids(choice: dict[str, Any]) -> list[int] | None:
    """The generated tokens' ids: vLLM's ``token_ids``, else ``token_id:N`` names in ``logprobs.tokens``."""
    ids = choice.get("token_ids")
    if isinstance(ids, list) and ids and all(isinstance(token, int) for token in ids):
        return ids
    logprobs = choice.get("logprobs")
    tokens = logprobs.get("tokens") if isinstance(logprobs, dict) else None
    if (
        isinstance(tokens, list)
        and tokens
        and all(isinstance(t, str) and t.startswith("token_id:") for t in tokens)
    ):
        return [int(token.removeprefix("token_id:")) for token in tokens]
    return None
