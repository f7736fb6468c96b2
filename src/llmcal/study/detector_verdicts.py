"""CogCalib's detector claim: a threshold on the gold answer's NLL, per model, variant and relation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.knowledge.detector import youden_threshold
from llmcal.metrics.discrimination import auroc
from llmcal.metrics.settings import MetricSettings
from llmcal.runs.study import ClaimVerdict
from llmcal.study.decisions import decide_level
from llmcal.study.detector import DetectorCells
from llmcal.study.evidence import mean_interval
from llmcal.study.verdicts import (
    COGCALIB,
)

__all__ = ["detector_claims", "detector_rows"]


def detector_rows(detectors: Sequence[DetectorCells], settings: MetricSettings) -> list[dict[str, Any]]:
    """Each model's detector variants (NLL summed or per token, style-adapted or not), by relation."""
    rows = []
    for model in detectors:
        known = {
            split: np.array(model.base.values["known"][split], dtype=bool)
            for split in ("calibration", "test")
        }
        relations = np.array(model.base.values["relation"]["test"])
        if known["calibration"].all() or not known["calibration"].any():
            continue  # no threshold separates one kind from nothing; run_prevention says so for its model
        for adapted in (False, True):
            sources = model.adapted if adapted else [model.base]
            if not sources:
                continue
            for method in ("sum", "mean"):
                correct, scores = [], []
                for cell in sources:
                    nll = cell.values["gold_nll"]
                    detector = youden_threshold(nll["calibration"][method], known["calibration"])
                    flagged = detector.is_known(nll["test"][method])
                    correct.append(flagged == known["test"])
                    scores.append(1.0 / (1.0 + np.asarray(nll["test"][method])))  # falls with NLL, in (0, 1]
                for relation in ["all", *sorted(set(relations))]:
                    mask = np.ones(len(relations), bool) if relation == "all" else relations == relation
                    key = {
                        "model": model.model,
                        "nll": method,
                        "style_adaptation": adapted,
                        "relation": relation,
                    }
                    measured = _detector_scores(
                        np.array(correct)[:, mask], [s[mask] for s in scores], known["test"][mask], settings
                    )
                    rows.append(key | measured | {"cells": [cell.name for cell in sources]})
    return rows


def _detector_scores(
    correct: NDArray[np.bool_],
    scores: list[NDArray[np.float64]],
    known: NDArray[np.bool_],
    settings: MetricSettings,
) -> dict[str, Any]:
    """Accuracy (with its interval), TPR, TNR and AUROC of the detector, averaged over its cells (seeds)."""
    value, low, high = mean_interval(correct.astype(float), settings)
    tpr = float(np.mean([row[known].mean() for row in correct])) if known.any() else float("nan")
    tnr = float(np.mean([row[~known].mean() for row in correct])) if (~known).any() else float("nan")
    area = float(np.mean([auroc(s, known) for s in scores])) if 0 < known.sum() < len(known) else float("nan")
    return {
        "n_known": int(known.sum()),
        "n_unknown": int((~known).sum()),
        "accuracy": value,
        "accuracy_low": low,
        "accuracy_high": high,
        "tpr": tpr,
        "tnr": tnr,
        "auroc": area,
    }


def detector_claims(rows: Sequence[dict[str, Any]]) -> list[ClaimVerdict]:
    """CogCalib's detector claim, per model: the paper's summed-NLL detector on all test items."""
    verdicts = []
    for row in rows:
        if row["nll"] != "sum" or row["style_adaptation"] or row["relation"] != "all":
            continue
        variants = [r for r in rows if r["model"] == row["model"] and r["relation"] == "all"]
        others = "; ".join(
            f"{'adapted, ' if r['style_adaptation'] else ''}{r['nll']} NLL {r['accuracy']:.3f} (AUROC "
            f"{r['auroc']:.3f})"
            for r in variants
            if r is not row
        )
        decision = decide_level(row["accuracy"], row["accuracy_low"], row["accuracy_high"], 0.98)
        verdicts.append(
            ClaimVerdict(
                f"detector-{row['model']}",
                COGCALIB,
                "A threshold on the gold answer's NLL, fitted on a calibration split, tells known from "
                "unknown items.",
                "98-99% accuracy on multiple-choice tasks (OBQA 99.44%), 83.6% on HotpotQA",
                f"{row['model']}, summed NLL, test accuracy {row['accuracy']:.3f} "
                f"[{row['accuracy_low']:.3f}, "
                f"{row['accuracy_high']:.3f}] (TPR {row['tpr']:.3f}, TNR {row['tnr']:.3f}, AUROC "
                f"{row['auroc']:.3f}; "
                f"{row['n_known']} known, {row['n_unknown']} unknown)",
                row["accuracy"],
                row["accuracy_low"],
                row["accuracy_high"],
                decision.verdict,
                f"{decision.reason}; the other variants: {others}.",
                list(row["cells"]),
            )
        )
    return verdicts
