"""A study killed mid-cell resumes at that cell and decides exactly as one that was never killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two tiny-model studies in subprocesses: about two minutes on 2 cores

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
from pathlib import Path
from tests.study.conftest import micro_study_settings
from llmcal.study.run import run_study
run_study(Path(sys.argv[1]), micro_study_settings(sys.argv[2]), stage=lambda text: print(text, flush=True))
"""


def _study(out: Path, model: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out), model], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )


def _decided(out: Path) -> dict:
    data = json.loads((out / "study.json").read_text(encoding="utf-8"))
    tables = {
        name: rows for name, rows in data["tables"].items() if name != "cells"
    }  # cells' own times differ
    return {"verdicts": data["verdicts"], "tables": tables}


def test_a_killed_study_resumes_and_decides_as_an_uninterrupted_one(tmp_path, tiny_model_dir):
    killed = tmp_path / "killed"
    process = _study(killed, tiny_model_dir)
    finished: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:  # each stage is printed as its cell starts
        finished.append(line.strip())
        if len(finished) == 6:  # five cells done, the sixth just started: kill it mid-work
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "study.json").exists()
    written_before = {path.parent.name for path in (killed / "cells").glob("*/cell.json")}
    assert set(finished[:5]) <= written_before <= set(finished)  # the sixth is whole or absent, never torn
    for name in written_before:
        json.loads((killed / "cells" / name / "cell.json").read_text(encoding="utf-8"))

    resumed = _study(killed, tiny_model_dir)
    stages = [line.strip() for line in resumed.stdout or []]
    assert resumed.wait(timeout=600) == 0
    assert not set(stages) & written_before  # the finished cells were read back, not rerun
    assert finished[5] in stages or finished[5] in written_before

    whole = tmp_path / "whole"
    uninterrupted = _study(whole, tiny_model_dir)
    assert uninterrupted.wait(timeout=600) == 0
    assert _decided(killed) == _decided(whole)
