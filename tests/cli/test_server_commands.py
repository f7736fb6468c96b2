"""`llmcal eval --server` and `llmcal probe --server`: the in-process results over real HTTP, refusals
before anything is written, and a server that dies midway (kept work, one line, a resume that finishes)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmcal.scoring.server_client
from llmcal.cli.app import main
from tests.scoring.fake_completions_server import FakeCompletions, Knobs, serve

pytestmark = pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")

QUESTIONS = [
    "What is the capital of France?",
    "Which colour is the sky?",
    "Who rides north?",
    "Mountains rise",
]
CHOICES = [
    ["Paris", "Lyon", "Nice"],
    ["blue", "green"],
    ["the king", "a dog", "the queen"],
    ["valley", "bank"],
]
# 100 items: two chunks of the evaluation loop (64 items each), so a run can die between them.
ITEMS = [
    {"id": f"q{n}", "question": f"{QUESTIONS[n % 4]} ({n})", "choices": CHOICES[n % 4], "answer": n % 2}
    for n in range(100)
]
OPEN_ITEMS = [
    {"id": f"o{n}", "question": f"{QUESTIONS[n % 4]} ({n})", "answers": [CHOICES[n % 4][0]]} for n in range(6)
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(
        tiny_model_dir
    )


@pytest.fixture
def start_server(tiny: tuple[Any, Any], tiny_model_dir: str) -> Iterator[Any]:
    """Starts fake servers of the tiny model on free ports (HTTP, in threads); returns (url, fake)."""
    servers = []

    def start(**knobs: Any) -> tuple[str, FakeCompletions]:
        fake = FakeCompletions(*tiny, "tiny", tiny_model_dir, Knobs(**knobs))
        server = serve(fake, 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", fake

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_retry_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llmcal.scoring.server_client, "_LONGEST_PAUSE_S", 0.0)


def eval_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--data", str(data), "--out", str(out), "--n-resamples", "20", *extra]


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


def numbers(value: Any) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, list | dict):
        for inner in value.values() if isinstance(value, dict) else value:
            yield from numbers(inner)


def test_a_server_run_records_what_the_in_process_run_records(
    start_server: Any,
    tiny_model_dir: str,
    tmp_path: Path,
    write_jsonl: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = start_server()
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS[:40])
    assert main(eval_args(data, tmp_path / "served", "--server", url, "--model", "tiny")) == 0
    assert main(eval_args(data, tmp_path / "local", "--model", tiny_model_dir, "--device", "cpu")) == 0
    served, local = records(tmp_path / "served"), records(tmp_path / "local")
    assert [r["id"] for r in served] == [r["id"] for r in local]
    differences = [
        abs(a - b)
        for r, s in zip(served, local, strict=True)
        for a, b in zip(numbers(r), numbers(s), strict=True)
    ]
    assert max(differences) < 1e-4
    results = [json.loads((tmp_path / run / "results.json").read_text()) for run in ("served", "local")]
    for method, row in results[0]["tasks"]["quiz"]["methods"].items():
        other = results[1]["tasks"]["quiz"]["methods"][method]
        metrics, others = row["metrics"], other["metrics"]
        assert metrics["accuracy"]["value"] == others["accuracy"]["value"]
        assert max(abs(metrics[name]["value"] - others[name]["value"]) for name in metrics) < 1e-3
    manifest = json.loads((tmp_path / "served" / "run.json").read_text())
    assert manifest["model"]["servers"] == [url]
    assert manifest["model"]["fingerprint"]["served_root"] == tiny_model_dir
    capsys.readouterr()


def test_open_ended_answers_over_a_server_are_the_in_process_answers(
    start_server: Any, tiny_model_dir: str, tmp_path: Path, write_jsonl: Any
) -> None:
    url, _ = start_server()
    data = write_jsonl(tmp_path / "open.jsonl", OPEN_ITEMS)
    common = ("--max-new-tokens", "6")
    assert main(eval_args(data, tmp_path / "served", "--server", url, "--model", "tiny", *common)) == 0
    assert (
        main(eval_args(data, tmp_path / "local", "--model", tiny_model_dir, "--device", "cpu", *common)) == 0
    )
    served, local = records(tmp_path / "served"), records(tmp_path / "local")
    assert [r["generation"]["tokens"] for r in served] == [r["generation"]["tokens"] for r in local]
    assert [r["verbal"] for r in served] == [r["verbal"] for r in local]
    assert (
        max(
            abs(a - b)
            for r, s in zip(served, local, strict=True)
            for a, b in zip(r["p_true"], s["p_true"], strict=True)
        )
        < 1e-4
    )


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--device", "cpu"], "--device applies to the in-process backend"),
        (["--strategy", "padded"], "--strategy applies to the in-process backend"),
    ],
)
def test_in_process_options_beside_a_server_are_refused(
    start_server: Any, tmp_path: Path, write_jsonl: Any, capsys: pytest.CaptureFixture[str], extra: list[str],
    complaint: str,
) -> None:  # fmt: skip
    url, _ = start_server()
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS[:2])
    assert main(eval_args(data, tmp_path / "out", "--server", url, "--model", "tiny", *extra)) == 2
    assert complaint in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_tokenizer_without_a_server_is_refused(tmp_path: Path, write_jsonl: Any, capsys: Any) -> None:
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS[:2])
    assert main(eval_args(data, tmp_path / "out", "--model", "gpt2", "--tokenizer", "gpt2")) == 2
    assert "--tokenizer goes with --server" in capsys.readouterr().err


def test_methods_a_server_cannot_run_are_named_before_anything_is_written(
    start_server: Any, tmp_path: Path, write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = start_server(ignore_prompt_logprobs=True)
    quiz = write_jsonl(tmp_path / "quiz.jsonl", ITEMS[:2])
    assert main(eval_args(quiz, tmp_path / "mc", "--server", url, "--model", "tiny")) == 2
    err = capsys.readouterr().err
    assert "cannot run the --methods sum, mean, min, choice (cannot score: the server gives no prompt" in err
    assert "No method of these tasks can run on it" in err
    assert not (tmp_path / "mc").exists()
    open_items = write_jsonl(tmp_path / "open.jsonl", OPEN_ITEMS[:2])
    assert main(eval_args(open_items, tmp_path / "open", "--server", url, "--model", "tiny")) == 2
    assert "Run only seq-prob,mean-prob,min-prob,verbal with this backend" in capsys.readouterr().err
    args = eval_args(
        open_items, tmp_path / "open", "--server", url, "--model", "tiny", "--methods", "seq-prob"
    )
    assert main(args) == 0


def test_a_server_that_dies_midway_keeps_finished_chunks_and_the_rerun_finishes_the_same_run(
    start_server: Any, tmp_path: Path, write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS)
    url, whole = start_server()
    options = ("--model", "tiny", "--batch-size", "8")
    assert main(eval_args(data, tmp_path / "whole", "--server", url, *options)) == 0
    sent = sum(request["path"] == "/v1/completions" for request in whole.knobs.requests)
    # The first chunk is 64 of the 100 items: dying after 80% of the requests is dying in the second.
    dying, _ = start_server(die_after=int(sent * 0.8))
    out = tmp_path / "killed"
    assert main(eval_args(data, out, "--server", dying, "--model", "tiny", "--batch-size", "8")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: POST /v1/completions failed 5 times")
    assert dying in err
    assert "Traceback" not in err
    assert "the same command resumes" in err
    assert len(records(out)) == 64  # the first chunk, whole; the second was lost with the server
    assert not (out / "results.json").exists()
    restarted, _ = start_server()  # on another port: where the server runs is not part of the run
    assert main(eval_args(data, out, "--server", restarted, "--model", "tiny", "--batch-size", "8")) == 0
    assert records(out) == records(tmp_path / "whole")


def test_a_server_url_nothing_listens_on_is_one_line_and_exit_2(
    unused_port: int, tmp_path: Path, write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS[:2])
    url = f"http://127.0.0.1:{unused_port}"
    assert main(eval_args(data, tmp_path / "out", "--server", url, "--model", "tiny")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: GET /v1/models failed 5 times")
    assert f"{url}: ConnectError" in err
    assert not (tmp_path / "out").exists()


def test_probe_over_a_server_labels_items_as_in_process(
    start_server: Any, tiny_model_dir: str, tmp_path: Path, write_jsonl: Any
) -> None:
    url, _ = start_server()
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS[:12])
    probe = ["probe", "--data", str(data)]
    assert main([*probe, "--out", str(tmp_path / "served.jsonl"), "--server", url, "--model", "tiny"]) == 0
    assert (
        main([*probe, "--out", str(tmp_path / "local.jsonl"), "--model", tiny_model_dir, "--device", "cpu"])
        == 0
    )
    served, local = (
        [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        for name in ("served.jsonl", "local.jsonl")
    )
    assert [(r["id"], r["known"]) for r in served] == [(r["id"], r["known"]) for r in local]
    assert max(abs(r["nll"] - s["nll"]) for r, s in zip(served, local, strict=True)) < 1e-4
    assert (
        main(
            [
                *probe,
                "--out",
                str(tmp_path / "x.jsonl"),
                "--server",
                url,
                "--model",
                "tiny",
                "--dtype",
                "float16",
            ]
        )
        == 2
    )


@pytest.mark.parametrize(
    ("knobs", "model", "complaint"),
    [
        ({}, "llama", "--model 'llama' is not served by http://127.0.0.1:"),
        ({"token_offset": 1}, "tiny", "tokenises a probe text otherwise than the local tokenizer"),
        ({"chat_only": True}, "tiny", "no /v1/completions endpoint"),
    ],
)
def test_a_wrong_server_is_one_line_before_anything_is_written(
    start_server: Any,
    tmp_path: Path,
    write_jsonl: Any,
    capsys: pytest.CaptureFixture[str],
    knobs: dict[str, Any],
    model: str,
    complaint: str,
) -> None:
    url, _ = start_server(**knobs)
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS[:2])
    args = eval_args(data, tmp_path / "out", "--server", url, "--model", model)
    if model == "llama":
        args += ["--tokenizer", str(tmp_path / "missing")]  # the name is checked before the tokenizer loads
    assert main(args) == 2
    err = capsys.readouterr().err
    assert complaint in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
