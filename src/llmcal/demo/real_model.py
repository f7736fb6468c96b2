"""The demo's real-model part: a real LLM from PyPI on real-world facts, by how popular each fact is.

1. Load the packaged model (de-quantized once into llmcal's cache).
2. Draw the fact questions (:mod:`llmcal.tasks.facts`), shuffled by the seed, and hold out a quarter of
   them for calibration.
3. Evaluate both splits with every confidence method, broken down by ``popularity`` (the population of the
   country or city asked about), as ordinary evaluation runs.
4. Fit one temperature per method on the held-out questions and apply it to the test questions.
5. Tabulate accuracy, confidence and calibration per method, before and after temperature scaling, on all
   test questions and per popularity stratum: the prior-knowledge effect (Mallen et al., 2023) on a real
   model, where confidence falls less than accuracy on rare facts.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from llmcal.calibrators.temperature import TemperatureScaler
from llmcal.confidence.extraction import ExtractionSettings
from llmcal.confidence.methods import OptionProbabilities, option_scores, probabilities
from llmcal.confidence.records import ItemRecord
from llmcal.errors import CalibrationWarning
from llmcal.evaluation import evaluate
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.strata import Strata, stratify
from llmcal.metrics.summary import calibration_row
from llmcal.reports.reliability import save_reliability_pngs
from llmcal.runs.demo import DemoRow, RealModelResults
from llmcal.runs.eval_run import read_eval_run
from llmcal.runs.evaluation import EvalSettings, Stratification
from llmcal.tasks.schema import MCItem
from llmcal.tasks.selection import EvalTask, select_tasks
from llmcal.tasks.spec import ClozeStyle

__all__ = ["REAL_MODEL_METHODS", "RealModelStory", "run_real_model_story"]

REAL_MODEL_METHODS = ("sum", "mean", "min", "choice")
POPULARITY = "popularity"  # the fact items' metadata field: population of the country or city asked about


@dataclass(frozen=True)
class RealModelStory:
    """What the real-model part runs.

    Attributes:
        model: A packaged model's short name (or any ``--model`` value).
        task: The built-in fact task.
        n_items: Questions drawn (calibration plus test); ``None``: all of them.
        calibration_fraction: Share of the drawn questions held out to fit the temperatures.
        n_strata: Popularity strata of the test questions.
        n_resamples: Bootstrap resamples of the evaluation runs' intervals, at most the demo's own. Every
            stratum x method is a full summary, and the smooth-ECE bootstrap dominates its cost.
    """

    model: str = "smollm2-135m-instruct"
    task: str = "facts"
    n_items: int | None = 600
    calibration_fraction: float = 0.25
    n_strata: int = 4
    n_resamples: int = 200


def run_real_model_story(
    out: Path,
    story: RealModelStory,
    *,
    seed: int,
    n_resamples: int,
    stage: Callable[[str], None],
) -> RealModelResults:
    """Runs the real-model part into ``out`` (one evaluation run per split) and returns its results."""
    from llmcal.scoring.hf import HFBackend

    style, calibration_items, test_items = _splits(story, seed)
    stage(f"loading {story.model}")
    backend = HFBackend(story.model, device="cpu", dtype="float32", on_status=stage)
    resamples = min(n_resamples, story.n_resamples)
    settings = EvalSettings(
        ExtractionSettings(methods=REAL_MODEL_METHODS, seed=seed), MetricSettings(n_resamples=resamples)
    )
    by_popularity = Stratification(POPULARITY, story.n_strata)
    records: dict[str, list[ItemRecord]] = {}
    for split, items in (("calibration", calibration_items), ("test", test_items)):
        stage(f"{story.model}: {len(items)} {split} questions x {len(REAL_MODEL_METHODS)} methods")
        evaluate(
            [EvalTask(split, items, style)],
            backend,
            settings,
            out / split,
            render=save_reliability_pngs,
            stratification=by_popularity if split == "test" else None,
        )
        records[split] = read_eval_run(out / split).records_in_order(split, (item.id for item in items))

    stage("fitting a temperature per method on the held-out questions")
    strata = stratify([float(item.metadata[POPULARITY]) for item in test_items], n_strata=story.n_strata)
    rows: list[DemoRow] = []
    temperatures: dict[str, float] = {}
    labels = [record.answer for record in records["calibration"]]
    for method in REAL_MODEL_METHODS:
        test = probabilities(records["test"], method)
        rows.extend(_rows(method, test, strata))
        with warnings.catch_warnings():
            # A method near chance (``choice`` on a small model) fits T at the bound; the tables mark it.
            warnings.simplefilter("ignore", CalibrationWarning)
            scaler = TemperatureScaler().fit(logits=_scores(records["calibration"], method), labels=labels)
        temperatures[method] = float(scaler.temperature_)
        scaled = test._replace(probs=scaler.transform(logits=_scores(records["test"], method)))
        rows.extend(_rows(f"{method} + temperature", scaled, strata))
    return RealModelResults(
        model=story.model,
        source=backend.describe(),
        task=story.task,
        n_calibration=len(calibration_items),
        n_test=len(test_items),
        by=POPULARITY,
        strata=[stratum.label for stratum in strata.strata],
        temperatures=temperatures,
        rows=rows,
    )


def _splits(story: RealModelStory, seed: int) -> tuple[ClozeStyle, list[MCItem], list[MCItem]]:
    """The task's prompt style, and its held-out and test questions: a seeded shuffle, cut once."""
    (task,) = select_tasks([story.task])
    items = task.mc_items()
    random.Random(seed).shuffle(items)
    drawn = items[: story.n_items] if story.n_items else items
    n_calibration = round(len(drawn) * story.calibration_fraction)
    return task.style, drawn[:n_calibration], drawn[n_calibration:]


def _rows(variant: str, table: OptionProbabilities, strata: Strata) -> list[DemoRow]:
    """The variant's calibration on all test questions, then per popularity stratum, rarest first."""
    groups: Sequence[tuple[str, NDArray[np.bool_]]] = [
        ("all", np.ones(len(strata.index), dtype=np.bool_)),
        *((stratum.label, strata.rows(i)) for i, stratum in enumerate(strata.strata)),
    ]
    return [DemoRow(variant, group, calibration_row(*table.subset(mask))) for group, mask in groups]


def _scores(records: list[ItemRecord], method: str) -> NDArray[np.float64]:
    return np.stack([option_scores(record, method) for record in records])
