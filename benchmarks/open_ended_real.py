"""Calibration of generated answers on real LLMs: the five confidence methods and the knowledge detector.

For each model: a seeded draw of ``--items`` open-ended fact questions (``facts_open``) is answered with
``--num-fewshot`` solved examples, and every generation confidence method is summarised (accuracy = exact
match, ECE, smooth ECE, top-label Brier, AUROC, with bootstrap intervals). Then CogCalib's detector is
fitted on ``--calibration`` other questions (NLL of the gold answer vs whether the zero-shot greedy answer
is right) and scored on the evaluated questions. Results go to ``--out/<model>/`` (an ``llmcal eval``
directory and ``probe.json``) and a markdown table is printed.

    python benchmarks/open_ended_real.py --models smollm2-135m-instruct,gemma-3-270m --out /tmp/open-real
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m-instruct,gemma-3-270m")
    parser.add_argument("--task", default="facts_open")
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--calibration", type=int, default=150)
    parser.add_argument("--num-fewshot", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from llmcal.confidence.generation_extraction import GenerationSettings
    from llmcal.confidence.predictions import answered, method_predictions
    from llmcal.evaluation import evaluate
    from llmcal.knowledge.probe import ProbeSettings, probe_knowledge
    from llmcal.metrics import MetricSettings
    from llmcal.runs import EvalSettings, read_eval_run
    from llmcal.scoring.hf import HFBackend
    from llmcal.tasks import EvalTask
    from llmcal.tasks.selection import select_tasks

    (task,) = select_tasks([args.task])
    items = list(task.items)
    random.Random(args.seed).shuffle(items)
    test, calibration = items[: args.items], items[args.items : args.items + args.calibration]
    settings = EvalSettings(
        GenerationSettings(num_fewshot=args.num_fewshot, seed=args.seed),
        MetricSettings(n_resamples=args.n_resamples, seed=args.seed),
    )
    rows = []
    for model in args.models.split(","):
        out = args.out / model
        backend = HFBackend(model, device="cpu", dtype="float32", batch_size=16)
        start = time.perf_counter()
        evaluated = evaluate(
            [EvalTask(args.task, test, task.style, task.fewshot_pool, task.stop)], backend, settings, out
        )
        eval_seconds = time.perf_counter() - start
        start = time.perf_counter()
        probe = probe_knowledge(
            test, backend, ProbeSettings(style=task.style, stop=task.stop), calibration_items=calibration
        )
        probe_seconds = time.perf_counter() - start
        detector = probe.detector
        assert detector is not None
        known = sum(item.known for item in probe.items)
        probe_summary = {
            "known": known,
            "n_items": len(probe.items),
            "threshold": detector.detector.threshold,
            "accuracy": detector.accuracy,
            "tpr": detector.tpr,
            "tnr": detector.tnr,
            "seconds": probe_seconds,
        }
        (out / "probe.json").write_text(json.dumps(probe_summary, indent=2) + "\n")
        result = evaluated.tasks[args.task]
        records = read_eval_run(out).records[args.task]
        assert result.answers is not None
        print(f"{model}: eval {eval_seconds:.0f} s, probe {probe_seconds:.0f} s", flush=True)
        for method, summary in result.methods.items():
            cells = []
            for name in ("ece", "smooth_ece", "top_brier", "auroc"):
                metric = summary.metric(name)
                assert metric is not None
                cells.append(f"{metric.value:.3f} [{metric.ci_low:.3f}, {metric.ci_high:.3f}]")
            kept = answered(records, method)
            mean = method_predictions(records, method, method, kept).mean_confidence
            missing = result.answers.no_confidence[method]
            row = [model, method, str(summary.n_items), str(missing), *cells, f"{mean:.3f}"]
            rows.append("| " + " | ".join(row) + " |")
        rows.append(
            f"| {model} | exact match {result.answers.exact_match:.3f}, "
            f"token F1 {result.answers.token_f1:.3f} "
            f"| detector: accuracy {detector.accuracy:.3f}, TPR {detector.tpr:.3f}, TNR {detector.tnr:.3f} "
            f"({known} of {len(probe.items)} known zero-shot) | | | | | |"
        )
    header = [
        "model",
        "method",
        "n",
        "no confidence",
        "ECE",
        "smooth ECE",
        "Brier",
        "AUROC",
        "mean confidence",
    ]
    print("| " + " | ".join(header) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
