"""The HTTP client of the server backend: what a refusal says, what is retried, where requests go."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from llmcal.errors import InputError, ServerError
from llmcal.scoring.server_client import ClientSettings, ServerClient, ServerRefusalError, server_message


@pytest.mark.parametrize(
    ("response", "said"),
    [
        (httpx.Response(400, json={"error": {"message": "bad field", "type": "x"}}), "bad field"),
        (httpx.Response(400, json={"object": "error", "message": "too long"}), "too long"),
        (httpx.Response(422, json={"detail": "missing prompt"}), "missing prompt"),
        (httpx.Response(400, json={"error": "plain words"}), "plain words"),
        (httpx.Response(400, json={"error": {"type": "x"}, "message": "second"}), "second"),
        (httpx.Response(400, json=["a", "list"]), "['a', 'list']"),
        (httpx.Response(502, text="  Bad \n  gateway  "), "Bad gateway"),
        (httpx.Response(404, text=""), "Not Found"),
    ],
)
def test_a_servers_reason_is_read_from_the_usual_places(response: httpx.Response, said: str) -> None:
    assert server_message(response) == said


def test_a_long_reason_is_cut_to_300_characters() -> None:
    assert server_message(httpx.Response(500, text="x " * 400)) == "x " * 150


def answering(*statuses: int, record: list[str] | None = None) -> httpx.MockTransport:
    """A transport answering each request with the next status (then 200), recording the URLs asked."""
    queue = list(statuses)

    def answer(request: httpx.Request) -> httpx.Response:
        if record is not None:
            record.append(str(request.url))
        status = queue.pop(0) if queue else 200
        return httpx.Response(status, json={"message": f"status {status}", "ok": status == 200})

    return httpx.MockTransport(answer)


def client(transport: httpx.BaseTransport, *urls: str, **settings: Any) -> ServerClient:
    pauses: list[float] = []
    made = ServerClient(
        list(urls) or ["http://a:1"], ClientSettings(**settings), transport=transport, sleep=pauses.append
    )
    made.pauses = pauses  # type: ignore[attr-defined]
    return made


def test_a_refusal_carries_its_status_and_reason_and_is_not_retried() -> None:
    asked: list[str] = []
    sender = client(answering(400, record=asked))
    with pytest.raises(ServerRefusalError) as error:
        sender.post("/v1/completions", {})
    assert (error.value.status, error.value.reason, error.value.parameter) == (400, "status 400", "servers")
    assert str(error.value) == "http://a:1/v1/completions refused the request (HTTP 400): status 400"
    assert isinstance(error.value, InputError)
    assert len(asked) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_with_doubling_pauses_on_the_next_server(status: int) -> None:
    asked: list[str] = []
    sender = client(
        answering(status, status, status, record=asked), "http://a:1", "http://b:2/v1/", retries=4
    )
    assert sender.post("/v1/completions", {})["ok"] is True
    assert asked == [f"http://{host}/v1/completions" for host in ("a:1", "b:2", "a:1", "b:2")]
    assert sender.pauses == [0.5, 1.0, 2.0]  # type: ignore[attr-defined]


def test_pauses_stop_doubling_at_eight_seconds_and_failures_are_named_once() -> None:
    sender = client(answering(*[503] * 7), retries=6, first_pause_s=1.0)
    with pytest.raises(ServerError) as error:
        sender.get("http://a:1", "/v1/models")
    assert sender.pauses == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # type: ignore[attr-defined]
    assert str(error.value).startswith("GET /v1/models failed 7 times (http://a:1: HTTP 503: status 503). ")


def test_a_request_to_one_server_stays_on_it() -> None:
    asked: list[str] = []
    sender = client(answering(503, record=asked), "http://a:1", "http://b:2")
    sender.post("/v1/completions", {}, url="http://b:2")
    assert asked == ["http://b:2/v1/completions"] * 2


def test_requests_take_turns_over_the_servers_and_answers_keep_the_payloads_order() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"host": request.url.host, "body": request.content.decode()})

    sender = client(httpx.MockTransport(echo), "http://a:1", "http://b:2", concurrency=3)
    done: list[int] = []
    answers = sender.post_many("/v1/completions", [{"n": n} for n in range(6)], on_done=done.append)
    assert [answer["body"] for answer in answers] == [f'{{"n":{n}}}' for n in range(6)]
    assert sorted(answer["host"] for answer in answers) == ["a"] * 3 + ["b"] * 3
    assert sorted(done) == list(range(6))


def test_a_failure_among_many_requests_is_raised_and_the_rest_are_not_sent() -> None:
    asked: list[str] = []
    sender = client(answering(400, record=asked), concurrency=1)
    with pytest.raises(ServerRefusalError):
        sender.post_many("/v1/completions", [{} for _ in range(20)])
    assert len(asked) < 20


def test_an_answer_that_is_not_json_is_retried_then_named() -> None:
    sender = client(httpx.MockTransport(lambda request: httpx.Response(200, text="<html>")), retries=1)
    with pytest.raises(ServerError, match="an answer that is not JSON: '<html>'"):
        sender.post("/v1/completions", {})
