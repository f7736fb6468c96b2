"""Whole-process time of greedy answers: ``llmcal eval`` on open-ended items vs lm-eval's ``generate_until``.

Both run as fresh processes, timed from start to exit (imports, model load, tokenisation, generation,
metrics, writing results), alternately, ``--repeats`` rounds; medians are reported. The items: the first
``--items`` of an open-ended built-in task (default ``facts_open``), written to a file both read; lm-eval
reads it through a local ``generate_until`` task with llmcal's prompt, the task's stop strings and the same
token limit (``tests/lm_eval_tasks.py``). llmcal runs ``--methods seq-prob``, which needs the answers only,
as lm-eval computes them. The answers of the last round are compared item by item: the share that are the
same text, and the share judged the same way (right or wrong) by llmcal's exact match.

    python benchmarks/generation_vs_lm_eval.py --model smollm2-135m-instruct --repeats 3
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
    parser.add_argument("--task", default="facts_open", help="open-ended task whose first --items are used")
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of every process (0: unset)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from tests.lm_eval_tasks import write_local_generation_task

    from llmcal.scoring.models import resolve_model
    from llmcal.tasks.answers import exact_match
    from llmcal.tasks.selection import select_tasks

    (task,) = select_tasks([args.task], limit=args.items)
    records = [item.to_record() for item in task.items]
    # Items are shuffled by neither tool; records keep the task's order, so answers pair up by position.
    work = Path(tempfile.mkdtemp(prefix="generation-vs-lm-eval-"))
    write_local_generation_task(
        work, "speed_open", records, style=task.style, until=task.stop, max_gen_toks=args.max_new_tokens
    )
    items = work / "speed_open.jsonl"
    folder = str(resolve_model(args.model).path)
    environment = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    if args.threads:
        environment["OMP_NUM_THREADS"] = str(args.threads)

    # The task's stop strings, escaped as the command line takes them ("\n" for a newline).
    stops = [part for text in task.stop for part in ("--stop", text.encode("unicode_escape").decode())]

    def llmcal_command(out: Path) -> list[str]:
        return [sys.executable, "-c", "import sys; from llmcal.cli.app import main; sys.exit(main())",
                "eval", "--model", args.model, "--data", str(items), "--methods", "seq-prob",
                "--batch-size", str(args.batch_size), "--device", "cpu", "--dtype", "float32",
                "--cloze-style", task.style, "--max-new-tokens", str(args.max_new_tokens),
                *stops, "--out", str(out)]  # fmt: skip

    def lm_eval_command(out: Path) -> list[str]:
        return [sys.executable, "-m", "lm_eval", "--model", "hf",
                "--model_args", f"pretrained={folder},dtype=float32", "--tasks", "speed_open",
                "--include_path", str(work), "--device", "cpu", "--batch_size", str(args.batch_size),
                "--output_path", str(out), "--log_samples"]  # fmt: skip

    contenders = {"lm-eval": lm_eval_command, "llmcal": llmcal_command}
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    outputs: dict[str, Path] = {}
    for round_number in range(args.repeats):
        for name, command in contenders.items():
            out = work / f"{name}-{round_number}"
            start = time.perf_counter()
            done = subprocess.run(command(out), env=environment, capture_output=True, text=True)
            seconds[name].append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
            outputs[name] = out
            print(f"round {round_number + 1}: {name} {seconds[name][-1]:.1f} s", flush=True)

    ours = [json.loads(line) for line in (outputs["llmcal"] / "records.jsonl").read_text().splitlines()]
    ours_by_id = {record["id"]: record["generation"]["text"] for record in ours}
    (samples,) = outputs["lm-eval"].rglob("samples_speed_open_*.jsonl")
    theirs = {}
    for line in samples.read_text().splitlines():
        sample = json.loads(line)
        theirs[sample["doc"]["id"]] = sample["resps"][0][0]
    answers = {record["id"]: record["answers"] for record in records}
    same_text = sum(ours_by_id[key] == theirs[key] for key in answers) / len(answers)
    verdicts = [
        exact_match(ours_by_id[key], gold) == exact_match(theirs[key], gold) for key, gold in answers.items()
    ]
    same_verdict = sum(verdicts) / len(answers)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    summary = {
        "model": args.model,
        "task": args.task,
        "items": len(records),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "seconds": seconds,
        "median_seconds": medians,
        "speedup": medians["lm-eval"] / medians["llmcal"],
        "same_answer_text": same_text,
        "same_exact_match_verdict": same_verdict,
        "exact_match": {
            "llmcal": sum(exact_match(ours_by_id[key], answers[key]) for key in answers) / len(answers),
            "lm-eval": sum(exact_match(theirs[key], answers[key]) for key in answers) / len(answers),
        },
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
