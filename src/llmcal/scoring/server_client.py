"""HTTP to one or more OpenAI-compatible model servers: bounded concurrency, replicas, retries with backoff.

A request goes to the next server in turn (data-parallel replicas share the work); one that fails in a way a
retry can mend (no connection, a timeout, HTTP 5xx, 429, 408) is sent again, to the next replica, after a
pause that doubles each time. What a retry cannot mend (any other HTTP 4xx: a bad field, a prompt over the
server's limit, an unknown model) is an :class:`~llmcal.errors.InputError` carrying the server's own words;
a server still failing after the last retry is a :class:`~llmcal.errors.ServerError`. Either way the
requests still waiting are cancelled, so the caller keeps what finished before (and a run resumes).

Never imports a server's own package (vLLM, SGLang): they are reached over HTTP only.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import httpx

from llmcal.errors import InputError, ServerError

__all__ = ["ClientSettings", "ServerClient", "ServerRefusalError", "server_message"]

# HTTP statuses a retry can mend: the server is overloaded, restarting or timed the request out.
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_LONGEST_PAUSE_S = 8.0


@dataclass(frozen=True)
class ClientSettings:
    """How requests are sent.

    Attributes:
        timeout_s: Seconds a request may take (connecting, then waiting for the answer).
        retries: Times a request that failed transiently is sent again before giving up.
        concurrency: Requests in flight at once, over all servers.
        first_pause_s: Pause before the first retry; each later one doubles it (up to 8 s).
    """

    timeout_s: float = 600.0
    retries: int = 4
    concurrency: int = 8
    first_pause_s: float = 0.5

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise InputError(f"`timeout_s` must be positive; got {self.timeout_s!r}.", parameter="timeout_s")
        if self.retries < 0:
            raise InputError(f"`retries` must be 0 or more; got {self.retries!r}.", parameter="retries")
        if self.concurrency < 1:
            raise InputError(
                f"`concurrency` must be at least 1; got {self.concurrency!r}.", parameter="concurrency"
            )


def server_message(response: httpx.Response) -> str:
    """The reason a server gave for refusing a request (OpenAI's ``error.message``, vLLM's ``message``)."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])
    return " ".join(str(body).split())[:300]


class ServerRefusalError(InputError):
    """A server refused a request (HTTP 4xx other than 408 and 429): the request must change, not be retried.

    Attributes:
        status: The HTTP status.
        reason: The server's own words.
    """

    def __init__(self, message: str, *, status: int, reason: str) -> None:
        super().__init__(message, parameter="servers")
        self.status = status
        self.reason = reason


class _TransientError(Exception):
    """A failure a retry may mend, with what to say about it if none does."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class ServerClient:
    """Sends JSON requests to OpenAI-compatible servers (one URL each) and returns their JSON answers.

    Args:
        urls: Base URLs (``http://host:port``, with or without a trailing ``/v1``); requests are spread
            over them in turn.
        settings: Timeouts, retries and concurrency.
        transport: An ``httpx`` transport to send through instead of the network (tests).
        sleep: Waits between retries (default ``time.sleep``; tests pass one that does not).
    """

    def __init__(
        self,
        urls: Sequence[str],
        settings: ClientSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not urls:
            raise InputError("`servers` is empty; give the URL of at least one server.", parameter="servers")
        self.urls = [_base_url(url) for url in urls]
        self.settings = settings or ClientSettings()
        self._sleep = sleep or time.sleep
        self._turn = itertools.count()
        self._turn_lock = threading.Lock()
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(self.settings.timeout_s, connect=min(10.0, self.settings.timeout_s)),
            limits=httpx.Limits(max_connections=self.settings.concurrency * 2),
        )

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def get(self, url: str, path: str) -> Any:
        """``GET url/path``'s JSON (one server, retried like any request)."""
        return self._send("GET", path, None, first=self.urls.index(url), one_server=True)

    def post(self, path: str, payload: dict[str, Any], *, url: str | None = None) -> Any:
        """``POST`` ``payload`` to ``path`` of the next server (or of ``url``), retried; its JSON answer."""
        first = self.urls.index(url) if url is not None else self._next_turn()
        return self._send("POST", path, payload, first=first, one_server=url is not None)

    def post_many(
        self,
        path: str,
        payloads: Sequence[dict[str, Any]],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """Every payload posted to ``path``, ``concurrency`` at a time; the answers in the payloads' order.

        Args:
            path: The endpoint (``/v1/completions``).
            payloads: One JSON body per request.
            on_done: Called with a payload's index when its answer has arrived.

        Raises:
            InputError: If a server refused a request (the requests not yet sent are cancelled).
            ServerError: If a request still failed after every retry.
        """
        answers: list[Any] = [None] * len(payloads)
        with ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix="llmcal-http"
        ) as pool:
            futures = {pool.submit(self.post, path, payload): index for index, payload in enumerate(payloads)}
            try:
                # Answers are taken (and on_done called) on the caller's thread, as they arrive.
                for future in as_completed(futures):
                    index = futures[future]
                    answers[index] = future.result()  # a failure is raised here
                    if on_done is not None:
                        on_done(index)
            finally:
                for future in futures:
                    future.cancel()  # the requests not yet sent, after a failure
        return answers

    def _next_turn(self) -> int:
        with self._turn_lock:
            return next(self._turn) % len(self.urls)

    def _send(
        self, method: str, path: str, payload: dict[str, Any] | None, *, first: int, one_server: bool
    ) -> Any:
        """One request, sent again (to the next server, unless ``one_server``) while it fails transiently."""
        failures: list[str] = []
        for attempt in range(self.settings.retries + 1):
            url = self.urls[first if one_server else (first + attempt) % len(self.urls)]
            if attempt:
                self._sleep(min(self.settings.first_pause_s * 2 ** (attempt - 1), _LONGEST_PAUSE_S))
            try:
                return self._once(method, url, path, payload)
            except _TransientError as failure:
                failures.append(f"{url}: {failure.what}")
        tried = "; ".join(dict.fromkeys(failures))  # the same failure from the same server once
        raise ServerError(
            f"{method} {path} failed {len(failures)} times ({tried}). Check that the server is running and "
            "serves the model (`curl URL/v1/models`); work finished before this is kept, and the same "
            "command resumes it."
        )

    def _once(self, method: str, url: str, path: str, payload: dict[str, Any] | None) -> Any:
        try:
            response = self._http.request(method, url + path, json=payload)
        except httpx.TimeoutException:
            raise _TransientError(f"no answer within {self.settings.timeout_s:g} s") from None
        except httpx.TransportError as error:
            raise _TransientError(f"{type(error).__name__}: {error or 'connection failed'}") from None
        if response.status_code in _TRANSIENT_STATUSES:
            raise _TransientError(f"HTTP {response.status_code}: {server_message(response)}")
        if response.status_code >= 400:
            reason = server_message(response)
            raise ServerRefusalError(
                f"{url}{path} refused the request (HTTP {response.status_code}): {reason}",
                status=response.status_code,
                reason=reason,
            )
        try:
            return response.json()
        except ValueError:
            raise _TransientError(f"an answer that is not JSON: {response.text[:80]!r}") from None


def _base_url(url: str) -> str:
    """``url`` without its trailing slash or ``/v1`` (paths are written with ``/v1``), checked for a scheme.

    Raises:
        InputError: If ``url`` is not an http(s) URL.
    """
    text = url.strip().rstrip("/")
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1]) == 0:
        raise InputError(
            f"`servers` entry {url!r} is not a server URL; give one such as http://127.0.0.1:8000.",
            parameter="servers",
        )
    return text.removesuffix("/v1")
