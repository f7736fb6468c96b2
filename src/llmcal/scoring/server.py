"""Scoring and generating through OpenAI-compatible model servers (vLLM first): the same records, over HTTP.

llmcal tokenises locally, exactly as the in-process backend does (:mod:`llmcal.scoring.tokenization`, after
lm-evaluation-harness), and sends token ids, so both backends score the same tokens; the server's
tokenisation of a probe text is checked against the local one first (:mod:`llmcal.scoring.server_probe`).

- **Scoring** a continuation is one prompt of context and continuation tokens, sent with
  ``prompt_logprobs: 0``: the server returns each prompt token's log-probability and rank, and the
  continuation's are read off (rank 1 is the argmax: ``is_greedy``). One token is generated and ignored
  (servers ask for at least one), so prompts are kept two tokens inside the server's context.
- **Generating** is greedy (``temperature: 0``, no penalties) with each generated token's id and
  log-probability returned; where the answer ends (a stop string, end-of-text, the token limit) is read
  from the tokens as the in-process loop reads it (:mod:`llmcal.scoring.generation_ending`).

Prompts go several to a request (``prompts_per_request``), requests several at a time and spread over
replicas (:mod:`llmcal.scoring.server_client`). A server batches whatever is in flight, so its float
results can differ in the last digits from one run to the next; they are the model's own, not bit-stable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmcal.errors import InputError
from llmcal.scoring.fingerprint import folder_fingerprint
from llmcal.scoring.generation_ending import end_of_text_ids, ending
from llmcal.scoring.models import resolve_model
from llmcal.scoring.requests import (
    BackendOperation,
    ContinuationScore,
    Generation,
    GenerationRequest,
    ProgressCallback,
    ScoringRequest,
    check_max_new_tokens,
)
from llmcal.scoring.sampling import SamplingSettings, sample_seed
from llmcal.scoring.server_client import ClientSettings, ServerClient
from llmcal.scoring.server_completions import (
    COMPLETIONS,
    choices_of,
    continuation_score,
    generation_payload,
    progress_of,
    scoring_payload,
)
from llmcal.scoring.server_probe import ServedModel, generated_ids, probe_server, served_entry
from llmcal.scoring.tokenization import EncodedRequest, PairEncoder

__all__ = ["ServerBackend"]


class ServerBackend:
    """A :class:`~llmcal.scoring.requests.ScoringBackend` over one or more OpenAI-compatible servers.

    Args:
        model: The name the servers serve the model under (vLLM's ``--served-model-name``).
        servers: Base URLs (``http://host:port``) of servers serving it; several are replicas sharing the
            work.
        tokenizer: The served model's tokenizer: a folder, hub id or packaged model name, or a loaded
            tokenizer. Default: ``model`` itself if it names one, else the folder the server reports.
        prompts_per_request: Prompts sent in one request.
        client: Timeouts, retries and concurrency (:class:`~llmcal.scoring.server_client.ClientSettings`).
        transport: An ``httpx`` transport to send through instead of the network (tests).
        on_status: Told, in a sentence, about what was found (a tokenisation that could not be checked).

    Raises:
        InputError: If a server does not serve ``model``, the tokenizer cannot be found or tokenises
            otherwise than the servers, or the replicas serve different models or context lengths.
        ServerError: If a server cannot be reached.
    """

    def __init__(
        self,
        model: str,
        servers: Sequence[str],
        *,
        tokenizer: str | Any | None = None,
        prompts_per_request: int = 16,
        client: ClientSettings | None = None,
        transport: Any = None,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        if prompts_per_request < 1:
            raise InputError(
                f"`prompts_per_request` must be at least 1; got {prompts_per_request!r}.",
                parameter="prompts_per_request",
            )
        self.name = model
        self.on_status = on_status
        self.prompts_per_request = prompts_per_request
        self.client = ServerClient(list(servers), client, transport=transport)
        # The name is checked first, on every server: a wrong --model says so, not that a tokenizer is
        # missing.
        entries = [served_entry(self.client, url, model) for url in self.client.urls]
        root = entries[0].get("root")
        self.tokenizer, self.tokenizer_source = _load_tokenizer(tokenizer, model, str(root) if root else None)
        self.served = _agreeing(
            [
                probe_server(self.client, url, model, entry, self.tokenizer)
                for url, entry in zip(self.client.urls, entries, strict=True)
            ]
        )
        if not self.served.tokenization_checked and on_status is not None:
            on_status(
                "warning: the server does not report its prompt's token ids, so its tokenizer could not be "
                "checked against the local one; make sure `tokenizer` is the served model's."
            )
        # Scoring sends context + continuation and asks for one more token: two tokens of room.
        self.encoder = PairEncoder(self.tokenizer, self.served.max_model_len - 2)
        self.prompt_encoder = PairEncoder(self.tokenizer, self.served.max_model_len)
        self.eos_ids = _eos_ids(self.tokenizer, self.tokenizer_source)

    def close(self) -> None:
        """Closes the connections to the servers."""
        self.client.close()

    def describe(self) -> dict[str, Any]:
        """The served model's name, the servers, their version and context, and the local tokenizer."""
        return {
            "backend": "server",
            "model": self.name,
            "servers": list(self.client.urls),
            "server_version": self.served.version,
            "max_model_len": self.served.max_model_len,
            "tokenizer": self.tokenizer_source,
        }

    def fingerprint(self) -> dict[str, Any]:
        """The weights the servers report loading, and the digests of the local tokenizer's files."""
        found: dict[str, Any] = {}
        if self.served.root is not None:
            found["served_root"] = self.served.root
        if self.tokenizer_source is not None and Path(self.tokenizer_source).is_dir():
            found["tokenizer_files"] = folder_fingerprint(Path(self.tokenizer_source))
        return found

    def unavailable_operations(self) -> Mapping[BackendOperation, str]:
        """What the servers cannot do (no prompt log-probabilities, say), each with the reason."""
        return dict(self.served.unavailable)

    def _report_truncation(self, count: int) -> None:
        """Says how many prompts were cut on the left to fit the server's context (as in-process)."""
        if count and self.on_status is not None:
            self.on_status(
                f"warning: {count} prompt(s) too long for the server's context of "
                f"{self.served.max_model_len} tokens were cut on the left, as lm-evaluation-harness does; "
                "their scores see only the end of the prompt."
            )

    def _require(self, operation: BackendOperation) -> None:
        reason = self.served.unavailable.get(operation)
        if reason is not None:
            raise InputError(f"{self.client.urls[0]} cannot {operation}: {reason}.", parameter="servers")

    # -- scoring -------------------------------------------------------------------------------------

    def score(
        self, requests: Sequence[ScoringRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Per-token log-probabilities of every continuation of every request (prompt log-probabilities)."""
        self._require("score")
        before = self.encoder.truncated
        encoded = self.encoder.encode(requests)
        self._report_truncation(self.encoder.truncated - before)
        groups = _grouped(encoded, self.prompts_per_request)
        # Each group's prompts: every continuation after its context, in order (what is sent and read back).
        prompts = [
            [request.context + tokens for request in group for tokens in request.continuations]
            for group in groups
        ]
        payloads = [scoring_payload(self.name, sent) for sent in prompts]
        answers = self.client.post_many(
            COMPLETIONS, payloads, on_done=progress_of(on_progress, [len(group) for group in groups])
        )
        results: list[list[ContinuationScore]] = [[] for _ in encoded]
        for group, sent, answer in zip(groups, prompts, answers, strict=True):
            scored = iter(zip(choices_of(answer, len(sent), self.client.urls), sent, strict=True))
            for request in group:
                results[request.index] = [
                    continuation_score(choice, prompt, len(tokens), request.key)
                    for tokens, (choice, prompt) in zip(request.continuations, scored, strict=False)
                ]
        return results

    # -- generating ----------------------------------------------------------------------------------

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        """Greedy continuation of every request's context, each token's id and log-probability kept.

        Raises:
            InputError: If ``max_new_tokens`` is not positive or leaves no room for a prompt.
        """
        contexts = self._prompt_ids("generate", requests, max_new_tokens)
        # One request's prompts share their sampling fields, stop strings included.
        by_stop: dict[tuple[str, ...], list[int]] = {}
        for index, request in enumerate(requests):
            by_stop.setdefault(tuple(request.stop), []).append(index)
        groups = [
            (stop, indices[start : start + self.prompts_per_request])
            for stop, indices in by_stop.items()
            for start in range(0, len(indices), self.prompts_per_request)
        ]
        payloads = [
            generation_payload(self.name, [contexts[index] for index in indices], stop, max_new_tokens)
            for stop, indices in groups
        ]
        answers = self.client.post_many(
            COMPLETIONS, payloads, on_done=progress_of(on_progress, [len(indices) for _, indices in groups])
        )
        results: list[Generation | None] = [None] * len(requests)
        for (stop, indices), answer in zip(groups, answers, strict=True):
            choices = choices_of(answer, len(indices), self.client.urls)
            for index, choice in zip(indices, choices, strict=True):
                results[index] = self._generation(choice, stop, requests[index].key or f"request {index}")
        return [generation for generation in results if generation is not None]

    def sample(
        self,
        requests: Sequence[GenerationRequest],
        *,
        settings: SamplingSettings,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[list[Generation]]:
        """``settings.samples`` samples of every request: one HTTP request per prompt, ``n`` samples each.

        The server draws them with the request's seed (:func:`~llmcal.scoring.sampling.sample_seed` of
        sample 0), so a prompt's samples do not depend on what else is sent; they are the server's
        sampler's, not the in-process loop's. Log-probabilities are what the server reports for the drawn
        tokens (vLLM: the model's own, before temperature and filtering, its default ``logprobs_mode``).

        Raises:
            InputError: If ``max_new_tokens`` is not positive or leaves no room for a prompt.
        """
        contexts = self._prompt_ids("sample", requests, max_new_tokens)
        payloads = [
            generation_payload(
                self.name,
                [context],
                tuple(request.stop),
                max_new_tokens,
                sampling=(settings, sample_seed(settings.seed, request.context, request.key, 0)),
            )
            for context, request in zip(contexts, requests, strict=True)
        ]
        answers = self.client.post_many(
            COMPLETIONS, payloads, on_done=progress_of(on_progress, [1] * len(payloads))
        )
        return [
            [
                self._generation(choice, tuple(request.stop), request.key or f"request {index}")
                for choice in choices_of(answer, settings.samples, self.client.urls)
            ]
            for index, (request, answer) in enumerate(zip(requests, answers, strict=True))
        ]

    def _prompt_ids(
        self, operation: BackendOperation, requests: Sequence[GenerationRequest], max_new_tokens: int
    ) -> list[list[int]]:
        """The prompts' token ids, cut to leave ``max_new_tokens`` of the server's context (and said so).

        Raises:
            InputError: If ``max_new_tokens`` is not positive or leaves no room, or the server cannot do
                ``operation``.
        """
        check_max_new_tokens(max_new_tokens)
        self._require(operation)
        before = self.prompt_encoder.truncated
        contexts = self.prompt_encoder.encode_prompts([r.context for r in requests], room=max_new_tokens)
        self._report_truncation(self.prompt_encoder.truncated - before)
        return contexts

    def _generation(self, choice: dict[str, Any], stop: tuple[str, ...], key: str) -> Generation:
        """The generation a server's choice holds, ended where the in-process loop would end it."""
        tokens = generated_ids(choice)
        logprobs = choice.get("logprobs")
        values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
        if not tokens or not isinstance(values, list) or len(values) != len(tokens):
            raise InputError(
                f"{key}: the server's answer lacks the generated tokens' ids or log-probabilities.",
                parameter="servers",
            )
        found = ending(
            self.tokenizer, tokens, [float(v) for v in values], stop, self.eos_ids, out_of_tokens=True
        )
        assert found is not None  # out_of_tokens: every token list ends somehow
        if found.stop == "length" and choice.get("finish_reason") == "stop":
            # The server stopped on an end-of-text token the local tokenizer does not call one (a chat
            # model's end-of-turn): it ended the generation, as it would have in-process with its config.
            found = Generation(
                str(self.tokenizer.decode(tokens[:-1], skip_special_tokens=False)),
                found.token_ids,
                found.token_logprobs,
                len(tokens) - 1,
                "eos",
            )
        return found


def _load_tokenizer(given: str | Any | None, model: str, root: str | None) -> tuple[Any, str | None]:
    """The local tokenizer and where it came from: ``given``, else ``model``, else the server's folder.

    Raises:
        InputError: If none of them loads (the message says what was tried and how to give it).
    """
    if given is not None and not isinstance(given, str):
        return given, getattr(given, "name_or_path", None)
    from transformers import AutoTokenizer

    if given is not None:
        candidates = [given]
    else:
        # The server's own folder first when it is on this machine: no hub lookup (minutes of retries
        # offline) for a served name such as "smollm2". Then the name, then the root, as hub ids.
        local_root = [root] if root and Path(root).is_dir() else []
        candidates = list(dict.fromkeys([*local_root, model, *([root] if root else [])]))
    tried = []
    for name in candidates:
        try:
            path = resolve_model(name).path
            return AutoTokenizer.from_pretrained(path), path
        except (OSError, ValueError) as error:
            tried.append(f"{name!r} ({' '.join(str(error).split())[:120]})")
    raise InputError(
        f"Could not load the served model's tokenizer from {' or '.join(tried)}. Pass `tokenizer` as the "
        "served model's folder, hub id or packaged name; llmcal tokenises locally and sends token ids.",
        parameter="tokenizer",
    )


def _agreeing(probed: list[ServedModel]) -> ServedModel:
    """The first server's answers, once every replica is found to serve the same thing.

    What any replica cannot do, none is asked to; the tokenisation counts as checked only if it was on all.

    Raises:
        InputError: If replicas report other weights or context lengths.
    """
    first = probed[0]
    for other in probed[1:]:
        if (other.root, other.max_model_len) != (first.root, first.max_model_len):
            raise InputError(
                f"{first.url} and {other.url} serve different models ({first.root}, {first.max_model_len} "
                f"tokens vs {other.root}, {other.max_model_len} tokens); replicas must serve the same one.",
                parameter="servers",
            )
    unavailable = {op: reason for served in probed for op, reason in served.unavailable.items()}
    checked = all(served.tokenization_checked for served in probed)
    return ServedModel(first.url, first.max_model_len, first.root, first.version, unavailable, checked)


def _eos_ids(tokenizer: Any, source: str | None) -> frozenset[int]:
    """End-of-text tokens: the tokenizer's and its folder's generation config's (as in-process)."""
    configured = None
    if source is not None:
        try:
            from transformers import GenerationConfig

            configured = GenerationConfig.from_pretrained(source).eos_token_id
        except OSError:
            pass  # no generation config: the tokenizer's token alone
    return end_of_text_ids(tokenizer, configured)


def _grouped(encoded: list[EncodedRequest], per_request: int) -> list[list[EncodedRequest]]:
    """Requests in groups of about ``per_request`` prompts; a request's prompts stay in one group."""
    groups: list[list[EncodedRequest]] = []
    count = 0
    for request in encoded:
        if not groups or count + len(request.continuations) > per_request:
            groups.append([])
            count = 0
        groups[-1].append(request)
        count += len(request.continuations)
    return groups
