"""One writer per output directory: a second run is refused at once, and a killed holder blocks nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmcal import InputError
from llmcal.confidence import ExtractionSettings
from llmcal.evaluation import evaluate
from llmcal.locking import LOCK_NAME, OutputLock
from llmcal.metrics import MetricSettings
from llmcal.runs import EvalSettings
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import MCItem

ITEMS = [MCItem(f"q{i}", f"Question {i}?", ("yes", "no"), i % 2) for i in range(130)]
SETTINGS = EvalSettings(ExtractionSettings(methods=("sum",)), MetricSettings(n_resamples=10))
ROOT = Path(__file__).resolve().parents[1]

# One writer: evaluates into argv[1] with a fake model that takes argv[2] seconds per chunk of items,
# exiting 2 with the message on a refusal, as the CLI does.
WRITER = textwrap.dedent(
    """
    import sys, time
    from llmcal import InputError
    from llmcal.confidence import ExtractionSettings
    from llmcal.evaluation import evaluate
    from llmcal.metrics import MetricSettings
    from llmcal.runs import EvalSettings
    from llmcal.scoring import FakeBackend
    from llmcal.tasks import EvalTask
    from llmcal.tasks.schema import MCItem

    class Slow(FakeBackend):
        def score(self, requests, *, on_progress=None):
            time.sleep(float(sys.argv[2]))
            return super().score(requests, on_progress=on_progress)

    items = [MCItem(f"q{i}", f"Question {i}?", ("yes", "no"), i % 2) for i in range(130)]
    settings = EvalSettings(ExtractionSettings(methods=("sum",)), MetricSettings(n_resamples=10))
    print("ready", flush=True)
    try:
        evaluate([EvalTask("toy", items)], Slow(), settings, sys.argv[1])
    except InputError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    """
)


def writer(out: Path, seconds_per_chunk: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out), str(seconds_per_chunk)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def holding(out: Path) -> subprocess.Popen[str]:
    """A process that takes the lock on ``out``, says so, and sleeps."""
    script = (
        "import sys, time\nfrom llmcal.locking import OutputLock\n"
        "with OutputLock(sys.argv[1], 'llmcal eval'):\n    print('locked', flush=True)\n    time.sleep(600)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    return process


def run(out: Path):
    return evaluate([EvalTask("toy", ITEMS)], FakeBackend(), SETTINGS, out)


def test_a_second_writer_is_refused_naming_the_holder_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    holder = holding(out)
    try:
        with pytest.raises(InputError, match=rf"another llmcal run \(pid {holder.pid} on .*`llmcal eval`"):
            run(out)
        assert sorted(path.name for path in out.iterdir()) == [LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_whose_holder_was_killed_blocks_nothing(tmp_path):
    out = tmp_path / "run"
    holder = holding(out)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (out / LOCK_NAME).exists()  # the file stays; the lock died with its holder
    run(out)
    assert len((out / "records.jsonl").read_text().splitlines()) == len(ITEMS)
    assert not (out / LOCK_NAME).exists()  # a finished run leaves no lock file


def test_a_refused_run_leaves_no_directory_it_created(tmp_path):
    out = tmp_path / "new" / "deeper" / "run"
    with OutputLock(out, "test"):
        assert (out / LOCK_NAME).exists()
    assert not (tmp_path / "new").exists()  # nor the parents it created
    kept = tmp_path / "kept"
    with OutputLock(kept, "test"):
        (kept / "results.json").write_text("{}")
    assert (kept / "results.json").exists()


@pytest.mark.slow
def test_of_n_concurrent_writers_exactly_one_runs_and_the_others_exit_2_at_once(tmp_path):
    out = tmp_path / "run"
    first = writer(out, 4.0)  # three chunks of 64 items: 12 s of scoring once started
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    while not (out / "run.json").exists():
        assert time.monotonic() < deadline, "the first writer never started"
        time.sleep(0.05)
    others = [writer(out, 1.0) for _ in range(3)]
    codes = []
    for process in others:
        _, stderr = process.communicate(timeout=120)
        codes.append((process.returncode, stderr))
    still_running = first.poll() is None  # the others were refused while the first was still writing
    _, first_stderr = first.communicate(timeout=120)
    assert first.returncode == 0, first_stderr
    assert still_running
    for code, stderr in codes:
        assert code == 2, stderr
        assert f"pid {first.pid}" in stderr
        assert "Traceback" not in stderr
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) == len(ITEMS)  # one writer's records, once each


def test_the_holder_records_itself_as_one_json_line_and_a_garbled_record_still_refuses(tmp_path):
    with OutputLock(tmp_path, "llmcal eval") as lock:
        text = lock.path.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert text.count("\n") == 1
        assert list(json.loads(text)) == ["pid", "host", "command", "since"]
        with pytest.raises(InputError, match=rf"\(pid {os.getpid()} on .*, `llmcal eval`, since 20"):
            OutputLock(tmp_path, "llmcal metrics").__enter__()
        lock.path.write_bytes(b"\xff not json")
        with pytest.raises(InputError, match=r"\(a process that has not recorded itself yet\)"):
            OutputLock(tmp_path, "llmcal metrics").__enter__()
