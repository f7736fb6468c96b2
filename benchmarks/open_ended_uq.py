"""Every open-ended confidence method on a real LLM: ranking (AUROC, PRR, AURC) and calibration before/after.

Evaluates ``--model`` on the built-in fact questions (``--tasks``, ``--limit`` items each) with every
generation method, single-pass and over ``--samples`` samples, then, per task and method, reads AUROC,
PRR and AURC with their bootstrap intervals from ``results.json``, and calibrates the confidence by
two-fold cross-fitting: the items are split in two halves by a seeded hash of their ids, an isotonic
calibrator (and Platt's) is fitted on each half and applied to the other, and the ECE of the pooled
held-out confidences is compared with the raw confidences' ECE on the same items, both with intervals.
Prints a markdown table per task; ``--json`` writes every number.

    python benchmarks/open_ended_uq.py --model smollm2-135m-instruct --out /tmp/uq-smollm2 \\
        [--tasks facts_open_capital,facts_open_city_country] [--limit 150] [--samples 10] [--num-fewshot 0]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from llmcal.calibrators import CALIBRATORS
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.confidence.generation_methods import GENERATION_METHODS
from llmcal.confidence.predictions import answered
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings, Predictions, summarize
from llmcal.runs import EvalSettings, read_eval_run
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks.selection import select_tasks

REPORTED = ("auroc", "prr", "aurc", "ece")


def _half(item_id: str, seed: int) -> int:
    return hashlib.sha256(f"{seed}\x00{item_id}".encode()).digest()[0] % 2


def cross_fitted(predictions: Predictions, ids: list[str], calibrator: str, seed: int) -> np.ndarray:
    """Each item's confidence calibrated by a calibrator fitted on the other half of the items."""
    halves = np.array([_half(item_id, seed) for item_id in ids])
    calibrated = np.empty(predictions.n_items)
    for half in (0, 1):
        fit, apply = halves != half, halves == half
        model = CALIBRATORS.get(calibrator)().fit(
            confidences=predictions.confidences[fit], correct=predictions.correct[fit]
        )
        calibrated[apply] = model.transform(confidences=predictions.confidences[apply])
    return calibrated


def _value(summary: Any, name: str) -> dict[str, float]:
    metric = summary.metric(name)
    return {"value": metric.value, "low": metric.ci_low, "high": metric.ci_high}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--tasks", default="facts_open_capital,facts_open_city_country")
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--num-fewshot", type=int, default=0, help="Solved examples before each question.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--json")
    args = parser.parse_args()
    tasks = select_tasks(args.tasks.split(","), None, limit=args.limit)
    methods = tuple(GENERATION_METHODS.names())
    metric_settings = MetricSettings(n_resamples=args.n_resamples, seed=args.seed)
    settings = EvalSettings(
        GenerationSettings(
            methods,
            num_fewshot=args.num_fewshot,
            seed=args.seed,
            sampling=SamplingSettings(samples=args.samples, seed=args.seed),
        ),
        metric_settings,
    )
    backend = HFBackend(args.model, device="cpu", dtype="float32")
    began = time.perf_counter()
    evaluate(tasks, backend, settings, Path(args.out))
    minutes = (time.perf_counter() - began) / 60
    run = read_eval_run(Path(args.out))
    results = run.results()
    report: dict[str, Any] = {
        "model": args.model,
        "num_fewshot": args.num_fewshot,
        "minutes": round(minutes, 1),
        "tasks": {},
    }
    for task in tasks:
        rows = {}
        for method in methods:
            predictions = run.answered_predictions(task.name, method)
            if predictions is None:
                continue
            records = run.records[task.name]
            ids = [record.id for record, kept in zip(records, answered(records, method), strict=True) if kept]
            row = {name: _value(results.tasks[task.name].methods[method], name) for name in REPORTED[:3]}
            row["n"] = predictions.n_items
            row["ece_raw"] = _value(summarize(predictions, metric_settings), "ece")
            for calibrator in ("isotonic", "platt"):
                calibrated = Predictions(
                    cross_fitted(predictions, ids, calibrator, args.seed),
                    predictions.correct,
                    None,
                    None,
                    "cal",
                )
                row[f"ece_{calibrator}"] = _value(summarize(calibrated, metric_settings), "ece")
            rows[method] = row
        report["tasks"][task.name] = rows
        accuracy = results.tasks[task.name].methods[methods[0]].metric("accuracy").value
        shots = f", {args.num_fewshot}-shot" if args.num_fewshot else ""
        print(f"\n{task.name}: {len(task.items)} questions, accuracy {accuracy:.3f}, {args.model}{shots}\n")
        print("| method | n | AUROC | PRR | AURC | ECE raw | ECE isotonic | ECE Platt |")
        print("|---|---|---|---|---|---|---|---|")
        for method, row in rows.items():
            cells = [
                f"{row[key]['value']:.3f} [{row[key]['low']:.3f}, {row[key]['high']:.3f}]"
                for key in ("auroc", "prr", "aurc", "ece_raw", "ece_isotonic", "ece_platt")
            ]
            print(f"| {method} | {row['n']} | " + " | ".join(cells) + " |")
    print(f"\n{minutes:.1f} min for the evaluation")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
