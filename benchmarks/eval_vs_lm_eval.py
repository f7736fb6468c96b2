"""Whole-process time of ``llmcal eval --methods sum`` vs ``lm_eval`` on the same items, model and batch size.

Both run as fresh processes, timed from start to exit (imports, model load, tokenisation, scoring,
metrics, writing results), alternately, ``--repeats`` rounds; medians are reported. The items: the first
``--items`` of a built-in task (default ``facts``), written to a file both read; lm-eval reads it through a
local task (``tests/lm_eval_tasks.py``: the prompt llmcal's ``sum`` uses, metric ``acc``). The model: what
``llmcal eval --model`` takes; lm-eval loads the same folder (a packaged model's de-quantized copy).

    python benchmarks/eval_vs_lm_eval.py --model smollm2-135m-instruct --repeats 3 --threads 1
    python benchmarks/eval_vs_lm_eval.py --model DIR --baseline-src /path/to/other/checkout/src

``--baseline-src`` also times ``llmcal eval`` run from another copy of llmcal's sources (for before/after
numbers in the same rounds); ``--threads`` sets ``OMP_NUM_THREADS`` for every process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="what llmcal eval --model takes")
    parser.add_argument("--task", default="facts", help="built-in task whose first --items items are used")
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of every process (0: unset)")
    parser.add_argument("--baseline-src", type=Path, help="another llmcal source folder to time as well")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from tests.lm_eval_tasks import write_local_task

    from llmcal.scoring.models import resolve_model
    from llmcal.tasks.selection import select_tasks

    (task,) = select_tasks([args.task], limit=args.items)
    records = [item.to_record() for item in task.items]
    work = Path(tempfile.mkdtemp(prefix="eval-vs-lm-eval-"))
    write_local_task(work, "speed_items", records, style=task.style)
    items = work / "speed_items.jsonl"
    folder = str(resolve_model(args.model).path)

    environment = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    if args.threads:
        environment["OMP_NUM_THREADS"] = str(args.threads)

    def llmcal_command(out: Path) -> list[str]:
        return [sys.executable, "-c", "import sys; from llmcal.cli.app import main; sys.exit(main())",
                "eval", "--model", args.model, "--data", str(items), "--methods", "sum",
                "--batch-size", str(args.batch_size), "--device", "cpu", "--dtype", "float32",
                "--cloze-style", task.style, "--out", str(out)]  # fmt: skip

    def lm_eval_command(out: Path) -> list[str]:
        return [sys.executable, "-m", "lm_eval", "--model", "hf",
                "--model_args", f"pretrained={folder},dtype=float32", "--tasks", "speed_items",
                "--include_path", str(work), "--device", "cpu", "--batch_size", str(args.batch_size),
                "--output_path", str(out)]  # fmt: skip

    contenders = {
        "lm-eval": (lm_eval_command, None),
        "llmcal": (llmcal_command, ROOT / "src"),
    }
    if args.baseline_src:
        contenders["llmcal baseline"] = (llmcal_command, args.baseline_src.resolve())
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for round_number in range(args.repeats):
        for name, (command, source) in contenders.items():
            out = work / f"{name.replace(' ', '-')}-{round_number}"
            env = dict(environment)
            if source is not None:
                env["PYTHONPATH"] = str(source)
            start = time.perf_counter()
            subprocess.run(command(out), check=True, env=env, capture_output=True)
            seconds[name].append(time.perf_counter() - start)
        print(f"round {round_number + 1}: " + ", ".join(f"{n} {s[-1]:.1f} s" for n, s in seconds.items()),
              flush=True)  # fmt: skip
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"\n{len(records)} items, batch size {args.batch_size}, medians of {args.repeats} rounds")
    for name, median in medians.items():
        speedup = statistics.median(
            theirs / ours for theirs, ours in zip(seconds["lm-eval"], seconds[name], strict=True)
        )
        print(f"  {name:<16}{median:7.1f} s   lm-eval / this {speedup:.2f}x")
    if args.json:
        result = {"items": len(records), "batch_size": args.batch_size, "threads": args.threads,
                  "seconds": seconds, "median_seconds": medians}  # fmt: skip
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
