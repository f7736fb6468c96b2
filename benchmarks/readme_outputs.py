"""Do two llmcal source trees give the same output for the README's commands? Run after a refactor.

Builds a tiny GPT-2 and small item and prediction files once, then runs twenty commands shaped like the
README's (eval with --by and few-shot, open-ended eval, probe, finetune cogcalib-ls, align DPO with LoRA,
compare, report, tasks, five metrics forms, three refused inputs) with each tree on PYTHONPATH, each in
its own directory with relative paths, and compares what they print and every file they write:

    .venv/bin/python benchmarks/readme_outputs.py OLD_SRC NEW_SRC [KEEP_DIR]

(e.g. a ``git worktree`` of the previous commit's ``src`` against ``src``). Lines that only name a source
file (Python's warning prefix) are compared without it. Exit code 0 when all is identical; with KEEP_DIR,
both transcripts are written there (``old.txt``, ``new.txt``) for ``diff``.
"""

from __future__ import annotations

import filecmp
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_gpt2 import build_tiny_gpt2

WORDS = ["oak", "elm", "ash", "pine", "Paris", "Rome", "Berlin", "blue", "red", "green", "river", "king"]
RESAMPLES = ["--n-resamples", "50"]
COMMANDS = [
    ["eval", "--model", "M", "--task", "facts", "--by", "popularity", "--limit", "40", *RESAMPLES,
     "--out", "runs/facts"],
    ["eval", "--model", "M", "--data", "test.jsonl", "--methods", "sum,choice", "--num-fewshot", "2",
     *RESAMPLES, "--out", "runs/mine"],
    ["eval", "--model", "M", "--data", "open.jsonl", "--methods", "seq-prob,verbal", "--max-new-tokens", "16",
     *RESAMPLES, "--out", "runs/q"],
    ["eval", "--model", "M", "--data", "test.jsonl", "--by", "relation", *RESAMPLES, "--out", "runs/f"],
    ["probe", "--model", "M", "--data", "train.jsonl", "--calibration-data", "held_out.jsonl",
     "--out", "labels.jsonl"],
    ["finetune", "--model", "M", "--data", "train.jsonl", "--calibration-data", "held_out.jsonl",
     "--method", "cogcalib-ls", "--alpha", "0.3", "--epochs", "1", "--eval-data", "test.jsonl",
     "--out", "ft"],
    ["eval", "--model", "ft/model", "--data", "test.jsonl", *RESAMPLES, "--out", "runs/tuned"],
    ["eval", "--model", "M", "--data", "test.jsonl", *RESAMPLES, "--out", "runs/base"],
    ["compare", "runs/base", "runs/tuned", *RESAMPLES, "--out", "runs/compare"],
    ["align", "--model", "M", "--data", "train.jsonl", "--method", "dpo", "--lora", "8,16", "--epochs", "1",
     "--eval-data", "test.jsonl", "--out", "runs/dpo"],
    ["report", "runs/base", "runs/compare", "runs/dpo", "ft", "--out", "report.html"],
    ["tasks"],
    ["metrics", "run.jsonl"],
    ["metrics", "run.jsonl", "--json", "--out", "m.json"],
    ["metrics", "scores.jsonl", "--input-kind", "logits"],
    ["metrics", "run.csv", "--n-bins", "10", "--strategy", "quantile", "--n-resamples", "2000",
     "--seed", "1"],
    ["metrics", "run.jsonl", "--by", "relation"],
    ["eval", "--model", "M", "--data", "test.jsonl", "--methods", "bogus", "--out", "runs/bad"],
    ["finetune", "--model", "M", "--data", "train.jsonl", "--method", "rcftt", "--out", "bad"],
    ["eval", "--model", "M", "--data", "test.jsonl", "--dtype", "float8", "--out", "runs/bad"],
]  # fmt: skip
PROGRESS = re.compile(r"it/s\]|s/it\]|━")
SOURCE_PREFIX = re.compile(r"^\S+\.py:\d+: ", re.MULTILINE)


def write_inputs(folder: Path) -> None:
    """The model and the files the commands read, the same for both trees."""
    corpus = [f"The answer is {word}. Question: which {word}? Answer: {word}" for word in WORDS] * 5
    build_tiny_gpt2(folder / "M", corpus, seed=0)
    rng = random.Random(0)

    def items(count: int, prefix: str) -> list[dict[str, object]]:
        return [{"id": f"{prefix}{i}", "question": f"Which word number {i}?", "choices": rng.sample(WORDS, 3),
                 "answer": i % 3, "popularity": rng.randint(1, 10000), "relation": rng.choice(["a", "b"])}
                for i in range(count)]  # fmt: skip

    def write(name: str, rows: list[dict[str, object]]) -> None:
        (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    for name, count in [("train", 24), ("held_out", 16), ("test", 16)]:
        write(f"{name}.jsonl", items(count, name))
    write("open.jsonl", [{"id": f"o{i}", "question": f"Name word {i}?", "answers": [rng.choice(WORDS)]}
                         for i in range(8)])  # fmt: skip
    predictions = []
    for _ in range(60):
        weights = [rng.random() for _ in range(3)]
        predictions.append({"probs": [w / sum(weights) for w in weights], "label": rng.randrange(3),
                            "relation": rng.choice(["x", "y"])})  # fmt: skip
    write("run.jsonl", predictions)
    write("scores.jsonl", [{"logits": [rng.gauss(0, 1) for _ in range(3)], "label": rng.randrange(3)}
                           for _ in range(60)])  # fmt: skip
    rows = "".join(f"{rng.random():.4f},{rng.randrange(2)}\n" for _ in range(80))
    (folder / "run.csv").write_text("confidence,correct\n" + rows, encoding="utf-8")


def run_all(source: Path, inputs: Path, folder: Path) -> str:
    """Runs every command with ``source`` on PYTHONPATH in ``folder``; returns the transcript."""
    folder.mkdir()
    for entry in inputs.iterdir():
        (folder / entry.name).symlink_to(entry)
    transcript = []
    environment = {**os.environ, "PYTHONPATH": str(source), "COLUMNS": "120"}
    for command in COMMANDS:
        done = subprocess.run([sys.executable, "-m", "llmcal.cli.app", *command], cwd=folder,
                              env=environment, capture_output=True, text=True, check=False)  # fmt: skip
        output = "".join(line for line in (done.stdout + done.stderr).splitlines(keepends=True)
                         if not PROGRESS.search(line))  # fmt: skip
        transcript.append(
            f"### llmcal {' '.join(command)}\n{SOURCE_PREFIX.sub('', output)}exit {done.returncode}\n"
        )
    return "".join(transcript)


def differing_files(old: Path, new: Path) -> list[str]:
    """Files written under one folder that are missing from, or differ in, the other."""
    comparison = filecmp.dircmp(old, new)
    found = [*comparison.left_only, *comparison.right_only, *comparison.diff_files, *comparison.funny_files]
    found = [name for name in found if not name.endswith("training_args.bin")]  # holds a fresh id per save
    for name in comparison.common_dirs:
        if not (old / name).is_symlink():
            found += [f"{name}/{inner}" for inner in differing_files(old / name, new / name)]
    return found


def main() -> int:
    old_source, new_source = (Path(argument).resolve() for argument in sys.argv[1:3])
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "inputs").mkdir()
        write_inputs(root / "inputs")
        old = run_all(old_source, root / "inputs", root / "old")
        new = run_all(new_source, root / "inputs", root / "new")
        files = differing_files(root / "old", root / "new")
        if len(sys.argv) > 3:
            keep = Path(sys.argv[3])
            keep.mkdir(parents=True, exist_ok=True)
            (keep / "old.txt").write_text(old, encoding="utf-8")
            (keep / "new.txt").write_text(new, encoding="utf-8")
        written = sum(1 for path in (root / "new").rglob("*") if path.is_file() and not path.is_symlink())
    print(
        f"{len(COMMANDS)} commands, {written} files written; transcripts identical: {old == new}; "
        f"files that differ: {files or 'none'}"
    )
    return 0 if old == new and not files else 1


if __name__ == "__main__":
    sys.exit(main())
