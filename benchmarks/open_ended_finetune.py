"""Calibration-aware fine-tuning on open-ended answers, on a real LLM: SFT vs CogCalib's token-level losses.

SmolLM2-135M-Instruct (LoRA rank 8) is fine-tuned for one epoch on ``--train`` open-ended fact questions
(``facts_open``, the answers' first name as the target), with each loss in ``--losses``; CogCalib's
detector is fitted on ``--calibration`` other questions. ``--test`` further questions are answered greedily
before and after, and the ``seq-prob`` confidence is scored (accuracy = exact match, ECE). Known and unknown
test questions (whether the model answered them right before fine-tuning) are reported apart, as CogCalib
does. Every run goes under ``--out``; a markdown table is printed.

    python benchmarks/open_ended_finetune.py --out /tmp/open-finetune
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--losses", default="sft,cogcalib-ls,cogcalib-ecp")
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--train", type=int, default=240)
    parser.add_argument("--calibration", type=int, default=100)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import numpy as np

    from llmcal.finetune.losses import CogCalibConfig
    from llmcal.finetune.run import evaluate_open_model, finetune
    from llmcal.finetune.settings import FinetuneSettings, LoraSettings
    from llmcal.knowledge.ground_truth import known_open_items
    from llmcal.metrics import ece
    from llmcal.scoring.hf import HFBackend
    from llmcal.tasks.selection import select_tasks

    (task,) = select_tasks(["facts_open"])
    items = [item for item in task.items if hasattr(item, "answers")]
    random.Random(args.seed).shuffle(items)
    train = items[: args.train]
    calibration = items[args.train : args.train + args.calibration]
    test = items[args.train + args.calibration : args.train + args.calibration + args.test]

    def row(name: str, model: object, tokenizer: object, known: np.ndarray) -> list[str]:
        predictions = evaluate_open_model(model, tokenizer, test, style=task.style, stop=task.stop)
        cells = [name]
        for rows in (np.ones(len(test), bool), known, ~known):  # all, known, unknown
            subset = predictions.subset(rows)
            cells += [f"{subset.correct.mean():.3f}", f"{subset.confidences.mean():.3f}",
                      f"{ece(subset.confidences, subset.correct):.3f}"]  # fmt: skip
        return cells

    backend = HFBackend(args.model, device="cpu", dtype="float32")
    calibration_known = known_open_items(calibration, backend, style=task.style, stop=task.stop)
    test_known = np.array(known_open_items(test, backend, style=task.style, stop=task.stop))
    rows = [row("before", backend.model, backend.tokenizer, test_known)]
    timings = {}
    for loss in args.losses.split(","):
        fresh = HFBackend(args.model, device="cpu", dtype="float32")
        settings = FinetuneSettings(
            loss=loss, epochs=1, learning_rate=args.learning_rate, batch_size=8, lora=LoraSettings(),
            loss_configs=(CogCalibConfig(alpha=args.alpha),), style=task.style, seed=args.seed,
        )  # fmt: skip
        start = time.perf_counter()
        trained, _ = finetune(
            fresh.model, fresh.tokenizer, train, settings, args.out / loss, calibration_items=calibration,
            calibration_known=calibration_known, save_model=False, stop=task.stop,
        )  # fmt: skip
        timings[loss] = time.perf_counter() - start
        rows.append(row(loss, trained, fresh.tokenizer, test_known))
        print(f"{loss}: {timings[loss]:.0f} s", flush=True)
    header = ["model", *(f"{part} {what}" for part in ("all", "known", "unknown")
                         for what in ("accuracy", "confidence", "ECE"))]  # fmt: skip
    print(f"test: {len(test)} questions, {int(test_known.sum())} known before fine-tuning")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    (args.out / "summary.json").write_text(json.dumps({"rows": rows, "seconds": timings}, indent=2) + "\n")


if __name__ == "__main__":
    main()
