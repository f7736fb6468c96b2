"""Time every llmcal metric on a large synthetic run (default: 1,000,000 items x 4 options).

Target (issue 2): each metric under 1 s on a 2-core machine. Each timing is the best of ``--repeats``
calls and includes input validation, as a user calling the public function pays it.

    python benchmarks/metrics_speed.py [--items 1000000] [--options 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from llmcal.metrics import METRICS, reliability_bins, top_label_confidence


def synthetic_run(n_items: int, n_options: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An overconfident model: sharp Dirichlet probabilities, labels drawn from flattened ones."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n_options, 0.5), size=n_items)
    flattened = 0.6 * probs + 0.4 / n_options
    cumulative = flattened.cumsum(axis=1)
    labels = (rng.uniform(size=(n_items, 1)) > cumulative).sum(axis=1).clip(0, n_options - 1)
    return probs, labels


def best_time(function, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--options", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    probs, labels = synthetic_run(args.items, args.options)
    confidences, correct = top_label_confidence(probs, labels)
    print(f"{args.items:,} items x {args.options} options, best of {args.repeats}")
    print(f"{'metric':<26}{'seconds':>9}{'value':>10}")
    rows: list[tuple[str, float, float]] = []
    for name in METRICS:
        spec = METRICS.get(name)
        inputs = (confidences, correct) if spec.inputs == "top_label" else (probs, labels)
        variants = [("", {})]
        if spec.binned and spec.inputs == "top_label":
            variants.append((" (quantile)", {"strategy": "quantile"}))
        for suffix, kwargs in variants:
            value = spec.function(*inputs, **kwargs)
            seconds = best_time(lambda: spec.function(*inputs, **kwargs), args.repeats)  # noqa: B023
            rows.append((name + suffix, seconds, value))
    rows.append(
        ("reliability_bins", best_time(lambda: reliability_bins(confidences, correct), args.repeats), 0)
    )
    rows.append(
        ("top_label_confidence", best_time(lambda: top_label_confidence(probs, labels), args.repeats), 0)
    )
    for name, seconds, value in rows:
        print(f"{name:<26}{seconds:>9.3f}{value:>10.4f}")
    slowest = max(rows, key=lambda row: row[1])
    verdict = "PASS" if slowest[1] < 1.0 else "FAIL"
    print(f"slowest: {slowest[0]} {slowest[1]:.3f} s -> {verdict} (target < 1 s each)")


if __name__ == "__main__":
    main()
