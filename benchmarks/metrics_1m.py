"""Wall time of ``llmcal metrics FILE`` on 1,000,000 items with the default settings (issue 26, item 9).

Target: at most 60 s on 2 cores, with every metric (11, from per-option probabilities) and the default
1,000 bootstrap resamples. The file is written in the input format ``llmcal metrics`` reads
(``llmcal.runs.predictions``: one JSON object per line, ``{"probs": [...], "label": k}``) for a synthetic
overconfident model, then the command runs in a subprocess, as a user would run it, ``--runs`` times; the
script prints each run's wall time and their median.

    python benchmarks/metrics_1m.py [--items 1000000] [--options 4] [--runs 3] [--file PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMMAND = "import sys; from llmcal.cli.app import main; sys.exit(main(sys.argv[1:]))"


def write_predictions(path: Path, n_items: int, n_options: int, seed: int = 0) -> None:
    """A synthetic overconfident model's predictions: sharp Dirichlet probabilities, labels drawn from
    flattened ones (as ``benchmarks/metrics_speed.py``), rounded to 6 decimals as a model's output file
    would be."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n_options, 0.5), size=n_items)
    flattened = 0.6 * probs + 0.4 / n_options
    labels = (rng.uniform(size=(n_items, 1)) > flattened.cumsum(axis=1)).sum(axis=1).clip(0, n_options - 1)
    probs = np.round(probs, 6)  # rows still sum to 1 within 3e-6, inside the reader's tolerance
    with path.open("w") as file:
        for row, label in zip(probs.tolist(), labels.tolist(), strict=True):
            file.write(f'{{"probs": [{", ".join(f"{p:.6f}" for p in row)}], "label": {label}}}\n')


def run_once(path: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", COMMAND, "metrics", str(path)], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"llmcal metrics failed ({result.returncode}):\n{result.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--options", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--file", type=Path, help="Reuse (or keep) the predictions file at this path.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = args.file or Path(folder) / "predictions.jsonl"
        if not path.exists():
            start = time.perf_counter()
            write_predictions(path, args.items, args.options)
            seconds = time.perf_counter() - start
            print(f"wrote {args.items:,} items x {args.options} options to {path} in {seconds:.1f} s")
        print(f"llmcal metrics {path.name}  (defaults: every metric, 1,000 resamples)")
        timings = []
        for run in range(args.runs):
            timings.append(run_once(path))
            print(f"run {run + 1}: {timings[-1]:.1f} s", flush=True)
        median = statistics.median(timings)
        verdict = "PASS" if median <= 60.0 else "FAIL"
        print(f"median of {args.runs}: {median:.1f} s -> {verdict} (target <= 60 s)")


if __name__ == "__main__":
    main()
