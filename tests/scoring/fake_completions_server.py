"""A small OpenAI-compatible completions server over a transformers model, in vLLM's dialect, for tests.

It answers what llmcal's server backend asks: ``GET /v1/models``, ``GET /version`` and ``POST
/v1/completions`` with ``prompt_logprobs``, ``logprobs``, ``stop``, ``return_token_ids``, and computes every
number with a plain, unpadded single-sequence forward of the model (the reference the in-process backend is
held to). Knobs make it misbehave as real servers do: transient failures, death, a chat-only API, a server
that ignores or rejects ``prompt_logprobs``, another tokenizer.

Used in-process through ``httpx.MockTransport`` (:meth:`FakeCompletions.transport`), or as a real HTTP
server in its own process (``python tests/scoring/fake_completions_server.py --model DIR``), which a test
can kill.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import torch


@dataclass
class Knobs:
    """How the fake misbehaves."""

    transient_failures: int = 0  # the next N requests answer HTTP 503
    die_after: int | None = None  # completions requests answered before the server dies
    chat_only: bool = False  # /v1/completions is 404
    ignore_prompt_logprobs: bool = False  # answers without prompt_logprobs (OpenAI-style)
    reject_prompt_logprobs: bool = False  # HTTP 400 when prompt_logprobs is asked for
    token_offset: int = 0  # reports prompt token ids shifted by this much (another tokenizer)
    no_token_ids: bool = False  # says nothing of the generated tokens' ids
    max_model_len: int = 512  # the tiny GPT-2's positions
    short_prompt_logprobs: bool = False  # one prompt log-probability too few
    null_prompt_logprobs: bool = False  # every entry null (as if none were computed)
    extra_eos: int | None = None  # a token the server ends generations at and the local tokenizer does not
    says_max_model_len: bool = True  # lists max_model_len in /v1/models (vLLM does; others may not)
    requests: list[dict[str, Any]] = field(default_factory=list)


class FakeCompletions:
    """The server's logic: JSON in, JSON out, computed with ``model``.

    Args:
        model: A causal LM (eval mode, float32).
        tokenizer: Its tokenizer.
        name: The served model name.
        root: The folder it reports loading.
    """

    def __init__(self, model: Any, tokenizer: Any, name: str, root: str, knobs: Knobs | None = None) -> None:
        self.model, self.tokenizer, self.name, self.root = model, tokenizer, name, root
        self.knobs = knobs or Knobs()
        self.completions_answered = 0
        self.dead = False
        self._lock = threading.Lock()
        configured = model.generation_config.eos_token_id
        self.eos = {tokenizer.eos_token_id, *(configured if isinstance(configured, list) else [configured])}

    # -- dispatch ------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """``(status, JSON)`` for one request; raises ``ConnectionError`` once the server is dead."""
        with self._lock:
            if self.dead:
                raise ConnectionError("the server is dead")
            self.knobs.requests.append({"method": method, "path": path, "body": body})
            if self.knobs.transient_failures > 0:
                self.knobs.transient_failures -= 1
                return 503, {"object": "error", "message": "overloaded, try again"}
            if path == "/v1/completions" and self.knobs.die_after is not None:
                if self.completions_answered >= self.knobs.die_after:
                    self.dead = True
                    raise ConnectionError("the server died")
                self.completions_answered += 1
        if method == "GET" and path == "/v1/models":
            entry: dict[str, Any] = {"id": self.name, "object": "model", "root": self.root}
            if self.knobs.says_max_model_len:
                entry["max_model_len"] = self.knobs.max_model_len
            return 200, {"object": "list", "data": [entry]}
        if method == "GET" and path == "/version":
            return 200, {"version": "fake-1"}
        if method == "POST" and path == "/v1/completions" and not self.knobs.chat_only:
            return self._completions(body)
        return 404, {"object": "error", "message": f"Not Found: {path}"}

    def transport(self) -> httpx.MockTransport:
        """An ``httpx`` transport answering through :meth:`handle` (no sockets)."""

        def answer(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content) if request.content else None
            try:
                status, payload = self.handle(request.method, request.url.path, body)
            except ConnectionError as error:
                raise httpx.ConnectError(str(error), request=request) from None
            return httpx.Response(status, json=payload)

        return httpx.MockTransport(answer)

    # -- completions ---------------------------------------------------------------------------------

    def _completions(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("model") != self.name:
            return 404, {"object": "error", "message": f"The model `{body.get('model')}` does not exist."}
        if self.knobs.reject_prompt_logprobs and "prompt_logprobs" in body:
            return 400, {"object": "error", "message": "Unrecognized field: prompt_logprobs"}
        prompts = body["prompt"]
        if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
            prompts = [prompts]
        choices = []
        n = int(body.get("n", 1))
        for index, prompt in enumerate(prompts):
            ids = self.tokenizer(prompt)["input_ids"] if isinstance(prompt, str) else list(prompt)
            if len(ids) + body.get("max_tokens", 16) > self.knobs.max_model_len:
                return 400, {"object": "error", "message": "This model's maximum context length is exceeded."}
            choices.extend(self._choice(index * n + number, ids, body, number) for number in range(n))
        return 200, {"object": "text_completion", "model": self.name, "choices": choices[::-1]}  # any order

    def _choice(self, index: int, ids: list[int], body: dict[str, Any], number: int = 0) -> dict[str, Any]:
        tokens, logprobs, finish = self._generated(ids, body, number)
        choice: dict[str, Any] = {
            "index": index,
            "text": self.tokenizer.decode(tokens, skip_special_tokens=False),
            "finish_reason": finish,
            "logprobs": None,
        }
        if body.get("logprobs") is not None:
            names = [f"token_id:{t}" for t in tokens] if body.get("return_tokens_as_token_ids") else tokens
            choice["logprobs"] = {"tokens": names, "token_logprobs": logprobs}
        if body.get("return_token_ids") and not self.knobs.no_token_ids:
            choice["token_ids"] = tokens
            choice["prompt_token_ids"] = [t + self.knobs.token_offset for t in ids]
        if body.get("prompt_logprobs") is not None and not self.knobs.ignore_prompt_logprobs:
            entries = self._prompt_logprobs(ids)[: -1 if self.knobs.short_prompt_logprobs else None]
            choice["prompt_logprobs"] = [None] * len(entries) if self.knobs.null_prompt_logprobs else entries
        if self.knobs.no_token_ids and choice["logprobs"] is not None:
            choice["logprobs"]["tokens"] = [self.tokenizer.decode([t]) for t in tokens]
        return choice

    def _log_softmax(self, ids: list[int]) -> torch.Tensor:
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids])).logits[0].float()
        return logits.log_softmax(dim=-1)

    def _prompt_logprobs(self, ids: list[int]) -> list[Any]:
        table = self._log_softmax(ids)
        entries: list[Any] = [None]
        for position in range(1, len(ids)):
            row, token = table[position - 1], ids[position]
            rank = int((row > row[token]).sum()) + 1
            shown = token + self.knobs.token_offset
            entries.append({str(shown): {"logprob": float(row[token]), "rank": rank, "decoded_token": ""}})
        return entries

    def _generated(
        self, ids: list[int], body: dict[str, Any], number: int
    ) -> tuple[list[int], list[float], str]:
        """Tokens until an end-of-text token, a stop string or ``max_tokens``, vLLM's way.

        Greedy at temperature 0; else drawn (temperature, top-k, top-p) from a generator seeded by the
        request's ``seed`` and the sample's number, each token's log-probability the model's own.
        """
        stops = [s for s in body.get("stop") or [] if s]
        temperature = float(body.get("temperature", 1.0))
        generator = torch.Generator().manual_seed((int(body.get("seed") or 0) * 1000 + number) % 2**63)
        tokens: list[int] = []
        logprobs: list[float] = []
        for _ in range(body.get("max_tokens", 16)):
            row = self._log_softmax(ids + tokens)[-1]
            token = int(row.argmax()) if temperature == 0 else self._drawn(row, body, generator)
            tokens.append(token)
            logprobs.append(float(row[token]))
            if token in self.eos or token == self.knobs.extra_eos:
                return tokens, logprobs, "stop"
            if any(stop in self.tokenizer.decode(tokens, skip_special_tokens=False) for stop in stops):
                return tokens, logprobs, "stop"
        return tokens, logprobs, "length"

    @staticmethod
    def _drawn(row: torch.Tensor, body: dict[str, Any], generator: torch.Generator) -> int:
        scaled = row / float(body.get("temperature", 1.0))
        top_k = int(body.get("top_k", -1))
        if 0 < top_k < len(scaled):
            scaled = scaled.masked_fill(scaled < torch.topk(scaled, top_k).values[-1], float("-inf"))
        ordered, order = scaled.sort(descending=True)
        probs = ordered.softmax(dim=-1)
        dropped = (probs.cumsum(dim=-1) - probs) >= float(body.get("top_p", 1.0))
        scaled = scaled.scatter(0, order, ordered.masked_fill(dropped, float("-inf")))
        return int(torch.multinomial(scaled.softmax(dim=-1), 1, generator=generator))


def serve(fake: FakeCompletions, port: int, *, exit_on_death: bool = False) -> ThreadingHTTPServer:
    """A real HTTP server on 127.0.0.1 answering through ``fake`` (``port`` 0: any free port).

    Once ``fake`` dies, the process exits (``exit_on_death``: a server process killed) or every
    connection is dropped unanswered (a server in a test's thread).
    """

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            try:
                status, payload = fake.handle(method, self.path, body)
            except ConnectionError:
                if exit_on_death:
                    os._exit(0)  # dies as a killed server does: connections drop, nothing answers
                self.close_connection = True
                return
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--name", default="tiny")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--die-after", type=int, default=None)
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    fake = FakeCompletions(model, tokenizer, args.name, args.model, Knobs(die_after=args.die_after))
    server = serve(fake, args.port, exit_on_death=True)
    print(server.server_address[1], flush=True)  # the port, for whoever started it
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
