"""Data-parallel evaluation equals one process, and a SIGKILLed evaluation resumes to identical results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llmcal.confidence import ExtractionSettings
from llmcal.distributed import Shard
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings
from llmcal.runs import EvalSettings
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import MCItem

ITEMS = [
    MCItem(f"q{i}", f"Question {i} about the {['river', 'king', 'old city'][i % 3]}?",
           ("alpha", "beta gamma", "delta", "the river bank")[: 2 + i % 3], i % 2)
    for i in range(150)
]  # fmt: skip
SETTINGS = EvalSettings(ExtractionSettings(methods=("sum", "mean", "choice")), MetricSettings(n_resamples=40))


def test_shards_in_threads_write_the_same_results_as_one_process(tmp_path):
    single = evaluate(
        [EvalTask("toy", ITEMS)], FakeBackend(favoured=["delta"]), SETTINGS, tmp_path / "one"
    ).to_dict()
    barrier = threading.Barrier(3, timeout=60)
    returned: dict[int, dict] = {}

    def run(rank: int) -> None:
        shard = Shard(rank=rank, world_size=3, barrier=barrier.wait)
        returned[rank] = evaluate(
            [EvalTask("toy", ITEMS)],
            FakeBackend(favoured=["delta"]),
            SETTINGS,
            tmp_path / "three",
            shard=shard,
        ).to_dict()

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert returned[0] == returned[1] == returned[2] == single
    assert (tmp_path / "three" / "results.json").read_bytes() == (
        tmp_path / "one" / "results.json"
    ).read_bytes()
    # Records are merged in item order and the per-process files are gone.
    assert (tmp_path / "three" / "records.jsonl").read_text().count("\n") == len(ITEMS)
    assert list((tmp_path / "three").glob("records.rank*")) == []


def write_items(path: Path, count: int) -> Path:
    items = (ITEMS * (1 + count // len(ITEMS)))[:count]
    path.write_text("".join(json.dumps({**item.to_record(), "id": f"{item.id}-{n}"}) + "\n"
                            for n, item in enumerate(items)))  # fmt: skip
    return path


def eval_command(model: str, data: Path, out: Path, *extra: str) -> list[str]:
    options = ["--device", "cpu", "--methods", "sum,choice", "--n-resamples", "50", *extra]
    return [sys.executable, "-m", "llmcal.cli.app", "eval", "--model", model, "--data", str(data), "--out",
            str(out), *options]  # fmt: skip


@pytest.mark.slow
def test_two_gloo_processes_give_the_results_of_one(tiny_model_dir, tmp_path):
    data = write_items(tmp_path / "items.jsonl", 60)
    single = subprocess.run(eval_command(tiny_model_dir, data, tmp_path / "one"), capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert single.returncode == 0, single.stderr[-2000:]
    torchrun = Path(sys.executable).with_name("torchrun")
    command = eval_command(tiny_model_dir, data, tmp_path / "two")
    command = [str(torchrun), "--nproc_per_node", "2", *command[1:]]
    parallel = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert parallel.returncode == 0, parallel.stderr[-2000:]
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    for method in ("sum", "choice"):
        ours, theirs = one["tasks"]["items"]["methods"][method], two["tasks"]["items"]["methods"][method]
        for name, metric in ours["metrics"].items():
            assert theirs["metrics"][name]["value"] == pytest.approx(metric["value"], abs=1e-9), name
    assert (tmp_path / "two" / "records.jsonl").read_text().count("\n") == 60
    assert list((tmp_path / "two").glob("records.rank*")) == []


def sigkill_when(
    command: list[str], ready: Callable[[], bool], *, timeout: float, settle: float = 0.0
) -> None:
    """Starts ``command``, waits until ``ready()`` and ``settle`` seconds more, then SIGKILLs it."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None and not ready():
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before it could be killed; give it more work"
    time.sleep(settle)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_gives_byte_identical_results(tiny_model_dir, tmp_path):
    data = write_items(tmp_path / "items.jsonl", 450)
    reference = subprocess.run(eval_command(tiny_model_dir, data, tmp_path / "reference"),
                               capture_output=True, text=True, timeout=300)  # fmt: skip
    assert reference.returncode == 0, reference.stderr[-2000:]
    out = tmp_path / "killed"
    records = out / "records.jsonl"

    def one_chunk_on_disk() -> bool:
        return records.exists() and records.read_bytes().count(b"\n") >= 64

    sigkill_when(eval_command(tiny_model_dir, data, out), one_chunk_on_disk, timeout=240)
    finished_before = records.read_bytes().count(b"\n")
    assert 64 <= finished_before < 450
    assert not (out / "results.json").exists()
    resumed = subprocess.run(eval_command(tiny_model_dir, data, out), capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (out / "results.json").read_bytes() == (tmp_path / "reference" / "results.json").read_bytes()
    assert records.read_bytes().count(b"\n") == 450  # finished items were not scored again


def finetune_command(model: str, data: Path, out: Path, *extra: str) -> list[str]:
    options = [
        "--method",
        "sft",
        "--epochs",
        "3",
        "--batch-size",
        "2",
        "--lr",
        "1e-3",
        "--eval-data",
        str(data),
    ]
    return [sys.executable, "-m", "llmcal.cli.app", "finetune", "--model", model, "--data", str(data),
            "--out", str(out), *options, *extra]  # fmt: skip


@pytest.mark.slow
def test_finetune_killed_after_a_checkpoint_resumes_to_the_same_model(tiny_model_dir, tmp_path):
    from safetensors.numpy import load_file

    data = write_items(tmp_path / "train.jsonl", 160)
    reference = subprocess.run(finetune_command(tiny_model_dir, data, tmp_path / "reference"),
                               capture_output=True, text=True, timeout=500)  # fmt: skip
    assert reference.returncode == 0, reference.stderr[-2000:]
    out = tmp_path / "killed"
    first = out / "checkpoints" / "checkpoint-80" / "trainer_state.json"  # end of epoch 1 of 3
    sigkill_when(
        finetune_command(tiny_model_dir, data, out), first.exists, timeout=400, settle=0.3
    )  # into epoch 2
    assert not (out / "results.json").exists()
    again = subprocess.run(finetune_command(tiny_model_dir, data, out), capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert again.returncode == 2
    assert "--resume" in again.stderr
    resumed = subprocess.run(finetune_command(tiny_model_dir, data, out, "--resume"), capture_output=True,
                             text=True, timeout=500)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ours = json.loads((out / "results.json").read_text())
    theirs = json.loads((tmp_path / "reference" / "results.json").read_text())
    assert ours["after"] == pytest.approx(theirs["after"], abs=1e-6)
    # The whole run's mean loss and every epoch, not only those after the resume.
    assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-6)
    assert ours["epochs"] == theirs["epochs"]
    weights = load_file(str(out / "model" / "model.safetensors"))
    expected = load_file(str(tmp_path / "reference" / "model" / "model.safetensors"))
    for name, tensor in expected.items():
        assert weights[name] == pytest.approx(tensor, abs=1e-5), name


@pytest.mark.slow
def test_finetune_killed_after_style_adaptation_resumes_from_the_start(tiny_model_dir, tmp_path):
    # The warm-up used to save its own checkpoint into OUT/checkpoints; a kill before the main run's first
    # save then made --resume restore the warm-up's optimizer, scheduler and step count and skip batches.
    from safetensors.numpy import load_file

    data = write_items(tmp_path / "train.jsonl", 80)
    extra = ("--epochs", "2", "--style-adaptation", "20")
    reference = subprocess.run(finetune_command(tiny_model_dir, data, tmp_path / "reference", *extra),
                               capture_output=True, text=True, timeout=500)  # fmt: skip
    assert reference.returncode == 0, reference.stderr[-2000:]
    out = tmp_path / "killed"

    def warm_up_finished() -> bool:  # the warm-up's marker (or, before the fix, its checkpoint)
        return (out / "style-adaptation.json").exists() or any((out / "checkpoints").glob("checkpoint-*"))

    sigkill_when(finetune_command(tiny_model_dir, data, out, *extra), warm_up_finished, timeout=400,
                 settle=0.3)  # fmt: skip
    assert not (out / "checkpoints" / "checkpoint-40").exists()  # killed before the main run's first save
    resumed = subprocess.run(finetune_command(tiny_model_dir, data, out, *extra, "--resume"),
                             capture_output=True, text=True, timeout=500)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    weights = load_file(str(out / "model" / "model.safetensors"))
    expected = load_file(str(tmp_path / "reference" / "model" / "model.safetensors"))
    for name, tensor in expected.items():
        assert weights[name] == pytest.approx(tensor, abs=1e-5), name
