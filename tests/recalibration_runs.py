"""Evaluation runs for the tests of ``llmcal calibrate``: hand-made ones whose confidences are known exactly,
and ones the fake backend evaluates (multiple choice, and open-ended with methods over samples)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llmcal.confidence import ExtractionSettings
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.confidence.records import ItemRecord
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings
from llmcal.runs import EvalSettings
from llmcal.runs.records import record_line
from llmcal.scoring import FakeBackend
from llmcal.scoring.requests import ContinuationScore
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import MCItem, OpenItem

CITIES = ["Paris", "Lima", "Oslo", "Quito", "Rome"]
OPEN_METHODS = ("seq-prob", "semantic-entropy")
MC_METHODS = ("sum", "choice")


def overconfident(number: int) -> tuple[float, bool]:
    """Item ``number``'s confidence, in [0.6, 0.99), and whether it is right: about 0.35 less often.

    A fixed pattern, not random, so every test sees the same run.
    """
    confidence = 0.6 + 0.39 * ((number * 37) % 100) / 100
    return confidence, (number * 53) % 100 < 100 * (confidence - 0.35)


def write_hand_run(
    path: Path,
    numbers: Sequence[int],
    *,
    task: str = "toy",
    methods: Sequence[str] = ("sum",),
    order: Sequence[int] | None = None,
) -> Path:
    """An `llmcal eval` directory of two-option items ``q<number>``: option 0 predicted at
    :func:`overconfident`'s confidence, gold 0 where it is right, 1 where not.

    ``order`` writes the records in another order (positions into ``numbers``).
    """
    path.mkdir(parents=True)
    manifest = {
        "model": {"backend": "hand", "model": "hand-made"},
        "settings": {"extraction": {"methods": list(methods)}},
        "tasks": {task: {"n_items": len(numbers), "item_ids": "-"}},
    }
    (path / "run.json").write_text(json.dumps(manifest))
    lines = []
    for position in order if order is not None else range(len(numbers)):
        confidence, right = overconfident(numbers[position])
        score = math.log(confidence / (1 - confidence))
        options = (ContinuationScore((score,), False), ContinuationScore((0.0,), False))
        record = ItemRecord(task, f"q{numbers[position]}", 0 if right else 1, 2, None, options, None)
        lines.append(record_line(record) + "\n")
    (path / "records.jsonl").write_text("".join(lines))
    return path


def hand_arrays(numbers: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The confidences and correctness :func:`write_hand_run` gives items ``numbers``, computed apart."""
    pairs = [overconfident(number) for number in numbers]
    return np.array([c for c, _ in pairs]), np.array([float(right) for _, right in pairs])


def fake_mc_run(path: Path, n_items: int = 120) -> Path:
    """The fake backend's four-option run (it favours "alpha", right one time in four)."""
    items = [
        MCItem(
            f"q{i}", f"Question number {i} about topic {i % 7}?", ("alpha", "beta", "gamma", "delta"), i % 4
        )
        for i in range(n_items)
    ]
    settings = EvalSettings(ExtractionSettings(methods=MC_METHODS), MetricSettings(n_resamples=20))
    evaluate([EvalTask("toy", items)], FakeBackend(favoured=["alpha"]), settings, path)
    return path


def fake_open_run(path: Path, n_items: int = 120) -> Path:
    """The fake backend's open-ended run with a single-pass method and semantic entropy over 4 samples."""
    items = [OpenItem(f"q{i}", f"What is city number {i}?", (CITIES[i % 5],)) for i in range(n_items)]
    extraction = GenerationSettings(OPEN_METHODS, sampling=SamplingSettings(samples=4))
    settings = EvalSettings(extraction, MetricSettings(n_resamples=20))
    evaluate([EvalTask("cities", items)], FakeBackend(answers=CITIES), settings, path)
    return path
