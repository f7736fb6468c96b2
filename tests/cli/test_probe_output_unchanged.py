"""``llmcal probe`` writes the same bytes and prints the same lines as the release that fixed its format.

The golden files in ``probe_golden/`` were written by the probe command before its analysis moved into
:mod:`llmcal.knowledge.probe`; any change to labels, thresholds, SliCK draws, rounding or wording fails here.
A deterministic :class:`~llmcal.scoring.FakeBackend` stands in for the Hugging Face model so the test is
fast and its scores never drift with library versions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcal.cli.app import main
from llmcal.scoring import FakeBackend

GOLDEN = Path(__file__).parent / "probe_golden"

# Varied options and answers: the fake model favours some answers, so some items are known and some not.
CHOICES = ["Paris", "blue", "the king", "seven"]
ITEMS = [
    {"id": f"q{i}", "question": f"Question {i}: which one?", "choices": CHOICES, "answer": (i * 7) % 4}
    for i in range(16)
]
CALIBRATION = [
    {"id": f"c{i}", "question": f"Held-out {i}: which one?", "choices": CHOICES, "answer": (i * 3) % 4}
    for i in range(10)
]

CASES = {
    "plain": [],
    "calibrated": ["--calibration-data", "calibration.jsonl"],
    "slick": ["--slick-prompts", "3", "--slick-fewshot", "2"],
    "letters-all": ["--format", "letters", "--calibration-data", "calibration.jsonl", "--slick-prompts", "2"],
}


@pytest.fixture
def fake_model(monkeypatch, tmp_path):
    """Runs the command in ``tmp_path`` with a fake model; relative paths keep console lines as golden."""
    import llmcal.scoring.hf

    monkeypatch.setattr(
        llmcal.scoring.hf, "HFBackend", lambda *args, **kwargs: FakeBackend(favoured=["Paris", "seven", "A"])
    )
    monkeypatch.chdir(tmp_path)
    # The golden console text was printed 80 columns wide without colour, as rich does when not on a tty.
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    for name, items in (("items.jsonl", ITEMS), ("calibration.jsonl", CALIBRATION)):
        Path(name).write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")


@pytest.mark.parametrize("case", sorted(CASES))
def test_probe_output_and_console_are_byte_identical_to_the_golden_files(case, fake_model, capsys):
    arguments = ["probe", "--model", "fake", "--data", "items.jsonl", "--out", "labels.jsonl", *CASES[case]]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert Path("labels.jsonl").read_bytes() == (GOLDEN / f"{case}.jsonl").read_bytes()
    assert printed == (GOLDEN / f"{case}.txt").read_text(encoding="utf-8")
