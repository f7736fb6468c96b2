"""Prompt tokens per second: llmcal through a server, raw requests to the same server, and in-process.

The same multiple-choice items (the built-in fact items, each option a continuation of the question) are
scored three ways, interleaved, ``--repeats`` times, and the medians printed:

- ``llmcal --server``: ``ServerBackend.score`` (tokenising, grouping, sending, reading the log-probs back);
- raw requests: the very prompts llmcal sends (token ids, tokenised beforehand and not timed), posted with
  the same grouping and concurrency by a bare ``httpx`` thread pool that only decodes the JSON answers: the
  server's own speed, and so llmcal's overhead over it;
- in-process: ``HFBackend.score`` on the same model files, float32 on the CPU.

A prompt token is one token of context plus continuation that the model reads; all three count the same.

    python benchmarks/server_throughput.py --server http://127.0.0.1:8000 --model smollm2 \\
        --local smollm2-135m-instruct [--items 400] [--repeats 3] [--concurrency 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import ScoringRequest
from llmcal.scoring.server import ServerBackend
from llmcal.scoring.server_client import ClientSettings
from llmcal.tasks.selection import select_tasks


def fact_requests(limit: int) -> list[ScoringRequest]:
    items = select_tasks(["facts"], None, limit=limit)[0].items
    return [
        ScoringRequest(
            f"Question: {item.question}\nAnswer:", tuple(f" {choice}" for choice in item.choices), item.id
        )
        for item in items
    ]


def sent_payloads(backend: ServerBackend, requests: list[ScoringRequest]) -> tuple[list[dict[str, Any]], int]:
    """The payloads llmcal sends to score ``requests`` (recorded from one run) and their prompt tokens."""
    recorded: list[dict[str, Any]] = []
    post_many = backend.client.post_many

    def recording(path: str, payloads: Any, **options: Any) -> list[Any]:
        recorded.extend(payloads)
        return post_many(path, payloads, **options)

    backend.client.post_many = recording  # type: ignore[method-assign]
    try:
        backend.score(requests)
    finally:
        backend.client.post_many = post_many  # type: ignore[method-assign]
    return recorded, sum(len(prompt) for payload in recorded for prompt in payload["prompt"])


def post_raw(url: str, payloads: list[dict[str, Any]], concurrency: int) -> None:
    with httpx.Client(timeout=600) as client, ThreadPoolExecutor(concurrency) as pool:
        answers = pool.map(
            lambda payload: client.post(url + "/v1/completions", json=payload).json(), payloads
        )
        assert all("choices" in answer for answer in answers)


def timed(run: Any) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", required=True)
    parser.add_argument("--model", required=True, help="the served model's name")
    parser.add_argument("--local", required=True, help="the same model for the in-process backend")
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--prompts-per-request", type=int, default=16)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    requests = fact_requests(args.items)
    served = ServerBackend(
        args.model, [args.server], prompts_per_request=args.prompts_per_request,
        client=ClientSettings(concurrency=args.concurrency),
    )  # fmt: skip
    local = HFBackend(args.local, device="cpu", dtype="float32")
    payloads, tokens = sent_payloads(served, requests)  # also warms the server up
    local.score(requests[:8])
    seconds: dict[str, list[float]] = {"llmcal --server": [], "raw requests": [], "in-process": []}
    for _ in range(args.repeats):
        seconds["llmcal --server"].append(timed(lambda: served.score(requests)))
        seconds["raw requests"].append(
            timed(lambda: post_raw(served.client.urls[0], payloads, args.concurrency))
        )
        seconds["in-process"].append(timed(lambda: local.score(requests)))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    prompts = sum(len(payload["prompt"]) for payload in payloads)
    print(f"{len(requests)} items, {prompts} prompts in {len(payloads)} requests, {tokens} prompt tokens; "
          f"medians of {args.repeats} interleaved runs")  # fmt: skip
    for name, value in medians.items():
        print(f"  {name:16s} {value:7.2f} s  {tokens / value:8.0f} prompt tokens/s")
    overhead = medians["llmcal --server"] / medians["raw requests"] - 1
    speedup = medians["in-process"] / medians["llmcal --server"]
    print(
        f"  llmcal's overhead over raw requests: {overhead:+.1%}; server path vs in-process: {speedup:.2f}x"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as sink:
            json.dump({"tokens": tokens, "seconds": seconds, "medians": medians}, sink, indent=2)


if __name__ == "__main__":
    main()
