"""Speed and agreement of llmcal's metrics against torchmetrics, netcal, relplot and scikit-learn.

For each size (default 10^4, 10^5, 10^6 items x 4 options of a synthetic overconfident model) every metric
is computed by llmcal and by each peer that has it, on the same arrays; the table gives the best-of-N time
of each and the absolute difference of the values. Peers that are not installed are skipped.

    python benchmarks/metrics_vs_peers.py [--sizes 10000,100000,1000000] [--repeats 3] [--json out.json]

Known convention differences (README, "Definitions"): torchmetrics and netcal bin left-closed, llmcal
right-closed (values exactly on an inner edge differ); relplot bisects its bandwidth to ~1e-3.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from llmcal.metrics import auroc, brier, ece, mce, nll, smooth_ece, top_label_confidence


def synthetic_run(n_items: int, n_options: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An overconfident model: sharp Dirichlet probabilities, labels drawn from flattened ones."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n_options, 0.5), size=n_items)
    cumulative = (0.6 * probs + 0.4 / n_options).cumsum(axis=1)
    labels = (rng.uniform(size=(n_items, 1)) > cumulative).sum(axis=1).clip(0, n_options - 1)
    return probs, labels


def best(function: Callable[[], float], repeats: int) -> tuple[float, float]:
    """(best seconds, value) over ``repeats`` calls."""
    timings, value = [], float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        value = float(function())
        timings.append(time.perf_counter() - start)
    return min(timings), value


def peers(probs: np.ndarray, labels: np.ndarray) -> dict[str, list[tuple[str, Callable[[], float]]]]:
    """Per metric, ``(peer name, call)`` for every installed peer that computes it."""
    confidences, correct = top_label_confidence(probs, labels)
    names = ("ece", "mce", "brier", "nll", "auroc", "smooth_ece")
    found: dict[str, list[tuple[str, Callable[[], float]]]] = {name: [] for name in names}
    if importlib.util.find_spec("torchmetrics"):
        import torch
        from torchmetrics.functional.classification import multiclass_calibration_error

        tensor_probs, tensor_labels = torch.from_numpy(probs), torch.from_numpy(labels)

        def torchmetrics_error(norm: str) -> float:
            value = multiclass_calibration_error(
                tensor_probs, tensor_labels, num_classes=probs.shape[1], n_bins=15, norm=norm
            )
            return float(value.item())

        found["ece"].append(("torchmetrics", lambda: torchmetrics_error("l1")))
        found["mce"].append(("torchmetrics", lambda: torchmetrics_error("max")))
    if importlib.util.find_spec("netcal"):
        from netcal.metrics import ECE, MCE

        found["ece"].append(("netcal", lambda: ECE(bins=15).measure(probs, labels)))
        found["mce"].append(("netcal", lambda: MCE(bins=15).measure(probs, labels)))
    if importlib.util.find_spec("sklearn"):
        from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

        options = list(range(probs.shape[1]))
        found["brier"].append(("scikit-learn", lambda: brier_score_loss(labels, probs, labels=options,
                                                                        scale_by_half=False)))  # fmt: skip
        found["nll"].append(("scikit-learn", lambda: log_loss(labels, probs, labels=options)))
        found["auroc"].append(("scikit-learn", lambda: roc_auc_score(correct, confidences)))
    if importlib.util.find_spec("relplot"):
        import relplot

        found["smooth_ece"].append(("relplot", lambda: relplot.smECE(confidences, correct)))
    return found


def llmcal_calls(probs: np.ndarray, labels: np.ndarray) -> dict[str, Callable[[], float]]:
    confidences, correct = top_label_confidence(probs, labels)
    return {
        "ece": lambda: ece(confidences, correct),
        "mce": lambda: mce(confidences, correct),
        "brier": lambda: brier(probs, labels),
        "nll": lambda: nll(probs, labels),
        "auroc": lambda: auroc(confidences, correct),
        "smooth_ece": lambda: smooth_ece(confidences, correct),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--options", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    print(f"{'metric':<11}{'items':>9}  {'llmcal s':>9}  {'peer':<13}{'peer s':>9}  {'|difference|':>12}")
    for size in (int(value) for value in args.sizes.split(",")):
        probs, labels = synthetic_run(size, args.options)
        ours = llmcal_calls(probs, labels)
        for metric, calls in peers(probs, labels).items():
            our_seconds, our_value = best(ours[metric], args.repeats)
            for peer, call in calls:
                peer_seconds, peer_value = best(call, args.repeats)
                rows.append(
                    {
                        "metric": metric,
                        "items": size,
                        "llmcal_seconds": our_seconds,
                        "peer": peer,
                        "peer_seconds": peer_seconds,
                        "llmcal_value": our_value,
                        "peer_value": peer_value,
                        "abs_difference": abs(our_value - peer_value),
                    }
                )
                print(f"{metric:<11}{size:>9}  {our_seconds:>9.4f}  {peer:<13}{peer_seconds:>9.4f}  "
                      f"{abs(our_value - peer_value):>12.2e}", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps({"options": args.options, "rows": rows}, indent=2) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
