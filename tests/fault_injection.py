"""Test support: run an llmcal job in a child process that is killed, or sees a disk error, at its N-th write.

The child counts its write events: every ``os.replace`` and ``os.fsync`` (the steps of an atomic write
and of a durable append) and every records append. At event ``kill_at`` it sends itself SIGKILL (at an
append: after writing half of the chunk's text, so the records file ends in a torn line); at event
``fail_at`` the write raises ``OSError(errno)`` instead (ENOSPC, EIO). With neither, it prints how many
events the job had, which is where the kill points are drawn from.

Jobs: ``eval OUT`` evaluates 150 items with the fake model (the evaluation loop of ``llmcal eval``,
without loading torch); ``cli ARGS...`` runs ``llmcal ARGS...`` in-process.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHILD", "JobResult", "assert_complete_files", "run_job", "visible_files"]

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import errno, os, signal, sys
    kill_at = int(os.environ.get("FAULT_KILL_AT", "0"))
    fail_at = int(os.environ.get("FAULT_FAIL_AT", "0"))
    fail_errno = getattr(errno, os.environ.get("FAULT_ERRNO", "ENOSPC"))
    events = 0

    def event():
        global events
        events += 1
        if events == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if events == fail_at:
            raise OSError(fail_errno, os.strerror(fail_errno))

    def counted(real):
        def wrapped(*args, **kwargs):
            event()
            return real(*args, **kwargs)
        return wrapped

    os.replace = counted(os.replace)
    os.fsync = counted(os.fsync)

    from llmcal.runs import records
    plain_append = records.RecordStore.append

    def append(self, chunk):
        global events
        if chunk and events + 1 == kill_at:
            text = "".join(records.record_line(record) + "\\n" for record in chunk)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(text[: len(text) // 2])  # a kill in the middle of the append
            os.kill(os.getpid(), signal.SIGKILL)
        if chunk:
            event()
        return plain_append(self, chunk)

    records.RecordStore.append = append

    def finish(code):
        print(f"EVENTS {events}", file=sys.stderr, flush=True)
        sys.exit(code)

    job, args = sys.argv[1], sys.argv[2:]
    if job == "eval":
        from llmcal.confidence import ExtractionSettings
        from llmcal.errors import InputError
        from llmcal.evaluation import evaluate
        from llmcal.metrics import MetricSettings
        from llmcal.reports.reliability import save_reliability_pngs
        from llmcal.runs import EvalSettings
        from llmcal.scoring import FakeBackend
        from llmcal.tasks import EvalTask
        from llmcal.tasks.schema import MCItem

        items = [MCItem(f"q{i}", f"Question {i} on topic {i % 7}?", ("alpha", "beta", "gamma"), i % 3)
                 for i in range(150)]
        settings = EvalSettings(ExtractionSettings(methods=("sum", "mean")), MetricSettings(n_resamples=30))
        try:
            evaluate([EvalTask("toy", items)], FakeBackend(favoured=["alpha"]), settings, args[0],
                     render=save_reliability_pngs)
        except (InputError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            finish(2)
        finish(0)
    from llmcal.cli.app import main
    finish(main(args))
    """
)


@dataclass(frozen=True)
class JobResult:
    """How a child job ended: its exit code (negative: killed by that signal), events and stderr."""

    returncode: int
    events: int | None
    stderr: str


def run_job(
    args: list[str],
    *,
    kill_at: int = 0,
    fail_at: int = 0,
    errno: str = "ENOSPC",
    kill_after: float | None = None,
    cwd: Path | None = None,
) -> JobResult:
    """Runs ``CHILD`` with ``args`` (``["eval", OUT]`` or ``["cli", ...]``) and the given fault.

    ``kill_after`` kills it that many seconds after it started, wherever it is (a kill between writes).
    """
    environment = {
        **os.environ,
        "FAULT_KILL_AT": str(kill_at),
        "FAULT_FAIL_AT": str(fail_at),
        "FAULT_ERRNO": errno,
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        cwd=cwd or ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    done = subprocess.CompletedProcess(args, process.returncode, None, stderr)
    events = None
    for line in done.stderr.splitlines():
        if line.startswith("EVENTS "):
            events = int(line.split()[1])
    return JobResult(done.returncode, events, done.stderr)


def visible_files(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` but the lock and hidden temporaries, by relative path."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def assert_complete_files(directory: Path, *, torn_records_allowed: bool = True) -> None:
    """Every visible file is whole: JSON parses, CSV rows are full, PNG and HTML end as they must.

    ``records.jsonl`` is the one append-only file: a killed run may leave its last line torn (the next
    run cuts it off), but every line before the last is a whole record.
    """
    for name, data in visible_files(directory).items():
        if name.endswith(".json"):
            json.loads(data)
        elif name.endswith(".jsonl"):
            lines = data.split(b"\n")
            whole, last = lines[:-1], lines[-1]
            for line in whole:
                json.loads(line)
            assert last == b"" or torn_records_allowed, f"{name}: a torn last line"
        elif name.endswith(".csv"):
            rows = list(csv.reader(data.decode("utf-8").splitlines()))
            assert rows, f"{name}: empty"
            assert all(len(row) == len(rows[0]) for row in rows), f"{name}: a short row"
            assert data.endswith(b"\n"), f"{name}: cut off"
        elif name.endswith(".png"):
            assert data.startswith(b"\x89PNG\r\n\x1a\n"), f"{name}: not a PNG"
            assert data[-12:-4] == b"\x00\x00\x00\x00IEND", f"{name}: cut off"
        elif name.endswith(".html"):
            assert data.rstrip().endswith(b"</html>"), f"{name}: cut off"
        elif name.endswith(".md"):
            assert data.endswith(b"\n"), f"{name}: cut off"
