"""Fine-tuning cost of every calibration-aware loss against plain SFT: time per epoch and peak memory.

Each method trains the same locally built GPT-2 on the same multiple-choice items (4 options, one packed
forward per item) for the same epochs, in a fresh subprocess so peak memory (max RSS, or peak CUDA memory on
a GPU) is its own. Epoch time includes what each method adds around the steps: CogCalib's threshold refit
(one forward over the calibration items per epoch) and RCFT's E-step (one forward over the training items).

    python benchmarks/finetune_overhead.py [--items 256] [--epochs 2] [--batch-size 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("sft", "cft", "ls", "cogcalib-ls", "cogcalib-mbls", "cogcalib-ecp", "rcft")
WORDS = [
    "river",
    "mountain",
    "city",
    "king",
    "queen",
    "castle",
    "forest",
    "winter",
    "summer",
    "golden",
    "silver",
    "market",
    "harbour",
    "bridge",
]


def items(count: int, seed: int):
    import random

    from llmcal.tasks.schema import MCItem

    rng = random.Random(seed)
    return [
        MCItem(f"q{i}", " ".join(rng.choice(WORDS) for _ in range(30)) + "?",
               tuple(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) for _ in range(4)), i % 4)
        for i in range(count)
    ]  # fmt: skip


def worker(method: str, model_dir: str, count: int, epochs: int, batch_size: int) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmcal.finetune.run import FinetuneSettings, finetune

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    calibration = items(count // 4, seed=1)
    known = [index % 2 == 0 for index in range(len(calibration))]  # any labels: only the cost is measured
    settings = FinetuneSettings(method=method, epochs=epochs, batch_size=batch_size, learning_rate=1e-4)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        _, results = finetune(model, tokenizer, items(count, seed=0), settings, out, save_model=False,
                              calibration_items=calibration, calibration_known=known)  # fmt: skip
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() if torch.cuda.is_available()
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # fmt: skip
    steps = results["log"][-1]["step"] if results["log"] else epochs * -(-count // batch_size)
    return {"seconds": seconds, "seconds_per_epoch": seconds / epochs, "steps": steps, "peak_bytes": peak,
            "detector_forward_items": results["detector_forward_items"]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "MODEL_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.items, args.epochs, args.batch_size)))
        return 0

    # The tiny model builder is test support (tests/tiny_gpt2.py), not part of the package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.tiny_gpt2 import build_tiny_gpt2

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        corpus = [item.question + " " + " ".join(item.choices) for item in items(300, seed=2)]
        model_dir = build_tiny_gpt2(folder, corpus, vocab_size=512, n_layer=args.layers, n_embd=args.width,
                                    n_head=4, n_positions=256, model_vocab_size=32_000)  # fmt: skip
        for method in METHODS:
            options = [
                "--items",
                str(args.items),
                "--epochs",
                str(args.epochs),
                "--batch-size",
                str(args.batch_size),
            ]
            command = [sys.executable, __file__, "--worker", method, str(model_dir), *options]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append({"method": method, **json.loads(done.stdout.strip().splitlines()[-1])})
            print(f"{method:<15}{rows[-1]['seconds_per_epoch']:8.2f} s/epoch  "
                  f"{rows[-1]['peak_bytes'] / 2**20:8.0f} MiB peak", flush=True)  # fmt: skip
    base = next(row for row in rows if row["method"] == "sft")
    for row in rows:
        row["overhead_vs_sft"] = row["seconds_per_epoch"] / base["seconds_per_epoch"]
        row["memory_vs_sft"] = row["peak_bytes"] / base["peak_bytes"]
    print(f"\n{'method':<15}{'s/epoch':>9}{'x sft':>8}{'peak MiB':>10}{'x sft':>8}")
    for row in rows:
        print(f"{row['method']:<15}{row['seconds_per_epoch']:>9.2f}{row['overhead_vs_sft']:>8.2f}"
              f"{row['peak_bytes'] / 2**20:>10.0f}{row['memory_vs_sft']:>8.2f}")  # fmt: skip
    settings = {"items": args.items, "epochs": args.epochs, "batch_size": args.batch_size,
                "model": {"layers": args.layers, "width": args.width, "vocab": 32_000}}  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
