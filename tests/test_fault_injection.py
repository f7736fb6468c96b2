"""Killed or out of disk at any write: a previous complete result or a resumable one, never a partial file.

Each job runs in a child process (tests/fault_injection.py) that is SIGKILLed, or whose write fails with
ENOSPC or EIO, at a seeded write event: an ``os.replace`` or ``os.fsync``, or a records append
(killed halfway through its text). After each fault every visible file is whole; a rerun ends
byte-identical to an uninterrupted run and leaves no temporary behind. The default run tries a seeded
sample of the points; ``pytest -m slow tests/test_fault_injection.py -s`` kills every write of every job
(and the evaluation at 20 seeded moments), fails a seeded sample of writes with ENOSPC and EIO, and
prints the counts that docs/reliability.md quotes, a test per job so that ``-n auto`` spreads them.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

import pytest

from tests.fault_injection import assert_complete_files, run_job, visible_files

SEED = 26
# Jobs that write one file (--out FILE), not a directory: a kill can leave a hidden temporary beside it,
# which nothing removes (another run may be writing the same file), though the file itself stays whole.
SINGLE_FILE_JOBS = ("report", "metrics")
# How a job is told to continue what a killed run left.
RESUME_OPTIONS = {"finetune": ["--resume"]}
DEFAULT_POINTS = 1
DISK_ERROR_POINTS = 4  # per job and errno in the slow run
TIMED_KILLS = 20  # the evaluation's, in the slow run (each is two child processes)


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, Path]:
    """Uninterrupted runs of every job, and their event counts (the kill points to draw from)."""
    root = tmp_path_factory.mktemp("references")
    predictions = root / "predictions.jsonl"
    rng = random.Random(SEED)
    rows = [{"probs": [p := rng.random(), 1 - p], "label": rng.randrange(2)} for _ in range(300)]
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = run_job(["eval", str(root / "eval")])
    assert done.returncode == 0, done.stderr
    train = root / "train.jsonl"
    choices = ["Paris", "blue", "the king"]
    items = [
        {"id": f"q{i}", "question": f"Question {i}?", "choices": choices, "answer": i % 3} for i in range(12)
    ]
    train.write_text("".join(json.dumps(item) + "\n" for item in items))
    return {"root": root, "eval": root / "eval", "predictions": predictions, "train": train}


def jobs(references: dict[str, Path], out: Path) -> dict[str, list[str]]:
    """Each job's arguments, writing into ``out``."""
    run = str(references["eval"])
    model = str(references.get("model", ""))
    return {
        "finetune": ["cli", "finetune", "--model", model, "--data", str(references["train"]),
                     "--out", str(out), "--method", "ls", "--epochs", "2", "--batch-size", "4",
                     "--lr", "1e-3", "--eval-data", str(references["train"])],
        "eval": ["eval", str(out)],
        "compare": ["cli", "compare", run, run, "--n-resamples", "20", "--out", str(out)],
        "calibrate": ["cli", "calibrate", run, "--n-resamples", "20", "--out", str(out)],
        "report": ["cli", "report", run, "--out", str(out / "report.html")],
        "metrics": ["cli", "metrics", str(references["predictions"]), "--n-resamples", "20",
                    "--out", str(out / "metrics.json")],
    }  # fmt: skip


def comparable(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files a rerun must reproduce: all but the Trainer's pickled arguments (they hold the path)."""
    return {name: data for name, data in files.items() if not name.endswith("training_args.bin")}


def points(events: int, count: int | None) -> list[int]:
    """Seeded kill points among ``events`` (every one when ``count`` is None)."""
    every = list(range(1, events + 1))
    return every if count is None else sorted(random.Random(SEED + events).sample(every, min(count, events)))


def fault_cycle(
    job: str, references: dict[str, Path], work: Path, count: int | None, *, fault: str
) -> tuple[int, int]:
    """Faults ``job`` at its drawn points; returns (points tried, points the job was hit at)."""
    reference_out = work / f"{job}-reference"
    reference_out.mkdir(parents=True)
    if job == "finetune":
        # Its first run hashes the model's files into llmcal's cache, writes no later run makes: warm up
        # first, so the reference's write events are those of every faulted run.
        assert run_job(jobs(references, work / "warm-up")[job]).returncode == 0
    first = run_job(jobs(references, reference_out)[job])
    assert first.returncode == 0, first.stderr
    assert first.events, first.stderr
    expected = visible_files(reference_out)
    tried = hit = 0
    for point in points(first.events, count):
        out = work / f"{job}-{fault}-{point}"
        out.mkdir(parents=True)
        # A previous result in place: kept or replaced whole.
        if job in ("compare", "calibrate", "report", "metrics"):
            for name, data in expected.items():
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                (out / name).write_bytes(data.replace(b"alpha", b"ALPHA") if name.endswith(".html") else data)
        args = jobs(references, out)[job]
        if fault == "kill":
            faulted = run_job(args, kill_at=point)
            assert faulted.returncode in (-9, 0), faulted.stderr
        else:
            faulted = run_job(args, fail_at=point, errno=fault)
            assert faulted.returncode in (2, 0), faulted.stderr
            assert "Traceback" not in faulted.stderr, faulted.stderr
        hit += faulted.returncode != 0
        assert_complete_files(out)
        resumed = run_job([*args, *RESUME_OPTIONS.get(job, [])])
        assert resumed.returncode == 0, resumed.stderr
        assert comparable(visible_files(out)) == comparable(expected), f"{job}, {fault} at {point}: differs"
        if job not in SINGLE_FILE_JOBS:  # the next run in a directory removes what a killed one left
            leftovers = [path for path in out.rglob(".*") if path.name != ".llmcal.lock"]
            assert not leftovers, leftovers
        tried += 1
        shutil.rmtree(out)
    return tried, hit


# The report job draws its diagrams at every rerun (over 5 s): its cases run with the slow tests.
@pytest.mark.parametrize(
    "job", ["eval", "compare", "calibrate", pytest.param("report", marks=pytest.mark.slow), "metrics"]
)
def test_a_kill_at_a_sampled_write_leaves_whole_files_and_a_rerun_ends_identical(job, references, tmp_path):
    tried, hit = fault_cycle(job, references, tmp_path, DEFAULT_POINTS, fault="kill")
    assert hit == tried > 0


@pytest.mark.parametrize(
    ("job", "errno"),
    [
        pytest.param("eval", "ENOSPC", marks=pytest.mark.slow),
        pytest.param("report", "EIO", marks=pytest.mark.slow),
    ],
)
def test_a_full_or_failing_disk_is_a_clear_error_and_a_rerun_ends_identical(job, errno, references, tmp_path):
    tried, hit = fault_cycle(job, references, tmp_path, DEFAULT_POINTS, fault=errno)
    assert hit == tried > 0


def timed_kills(references: dict[str, Path], work: Path, count: int) -> tuple[int, int]:
    """Kills the evaluation at seeded moments of its run (between writes too); each rerun ends identical."""
    reference_out = work / "reference"
    started = time.monotonic()
    assert run_job(["eval", str(reference_out)]).returncode == 0
    duration = time.monotonic() - started
    expected = visible_files(reference_out)
    rng = random.Random(SEED)
    hit = 0
    for index in range(count):
        out = work / f"timed-{index}"
        killed = run_job(["eval", str(out)], kill_after=rng.uniform(0.2, 1.0) * duration)
        hit += killed.returncode == -9
        if out.exists():
            assert_complete_files(out)
        assert run_job(["eval", str(out)]).returncode == 0
        assert visible_files(out) == expected, f"killed at moment {index}: differs after the rerun"
        shutil.rmtree(out)
    return count, hit


# Each job and fault is its own test, so `-n auto` spreads them over the workers (together ~15 minutes
# of work; fine-tuning's kills the longest, about 4 minutes).
@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill", "ENOSPC", "EIO"])
@pytest.mark.parametrize("job", ["eval", "finetune", "compare", "calibrate", "report", "metrics"])
def test_every_write_of_the_job_survives_the_fault(job, fault, references, tiny_model_dir, tmp_path, capsys):
    references = {**references, "model": Path(tiny_model_dir)}
    # Every write is killed; a disk error is tried at a seeded sample of writes (CI's time budget).
    count = None if fault == "kill" else DISK_ERROR_POINTS
    tried, hit = fault_cycle(job, references, tmp_path, count, fault=fault)
    with capsys.disabled():  # the figures docs/reliability.md quotes
        print(f"\nfault-injection {job:9} {fault:6} points {tried:3} hit {hit:3}")
    assert hit == tried > 0  # a fault at a write event always hits


@pytest.mark.slow
def test_the_evaluation_killed_at_random_moments_reruns_identical(references, tmp_path, capsys):
    tried, hit = timed_kills(references, tmp_path, TIMED_KILLS)
    with capsys.disabled():
        print(
            f"\nfault-injection eval killed at {tried} random moments: {hit} hit mid-run, "
            "the rest after it ended"
        )
    assert hit > 0
