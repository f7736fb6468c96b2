"""Oh & Hwang's and Xiao et al.'s claims on the restore cells: DPO's collapse, CFT, RCFT, TS."""

from __future__ import annotations

from typing import Any

from llmcal.metrics.comparison import change_rate
from llmcal.metrics.settings import MetricSettings
from llmcal.reports.cells import percent
from llmcal.runs.study import ClaimVerdict
from llmcal.study.decisions import Rule
from llmcal.study.evidence import Arm, temperature_scaled
from llmcal.study.prevention import FineTuning
from llmcal.study.restore import RestoreCells
from llmcal.study.settings import Capacity, RestorePart
from llmcal.study.verdicts import (
    OH,
    SMALLEST_ECE_EFFECT,
    XIAO,
    claim_verdict,
    interval_text,
)


class _Restore:
    """The restore part's arms: base, aligned (per seed), each restoring loss (per seed), TS."""

    def __init__(self, part: RestorePart, cells: RestoreCells) -> None:
        self.part, self.cells = part, cells
        self.chosen = cells.selection.values["chosen"]
        self.lora = Capacity("lora-r8", 8, part.learning_rate)

    def aligned(self, table: str = "test:sum") -> Arm:
        return Arm.of("DPO", [self.cells.dpo[seed] for seed in self.part.seeds], table)

    def base(self, method: str = "sum") -> Arm:
        return Arm.of("base", [self.cells.base], f"test:{method}")

    def restored(self, loss: str, split: str = "test") -> Arm:
        pick = self.chosen[loss]
        runs = [
            self.cells.runs[FineTuning(loss, pick["parameter"], pick["value"], self.lora, seed)]
            for seed in self.part.seeds
        ]
        return Arm.of(f"DPO + {loss}", runs, f"{split}:sum")


__all__ = ["alignment_claims", "alignment_rows", "restore_arms", "restore_claims", "restore_rows"]


def alignment_claims(part: RestorePart, cells: RestoreCells, settings: MetricSettings) -> list[ClaimVerdict]:
    """Oh & Hwang's claims: after alignment ECE rises under sum and min, and SCE under choice."""
    view = _Restore(part, cells)
    claims = (
        ("sum", "ece", "continuation-sum ECE rises in 65 of 70 model x task cells"),
        ("min", "ece", "continuation-min ECE rises in 48 of 50 cells"),
        ("choice", "sce", "choice (letter) SCE rises in 69 of 70 cells (>= 0 in all 70)"),
    )
    verdicts = []
    for method, metric, number in claims:
        base, aligned = view.base(method), view.aligned(f"test:{method}")
        change = base.change_to(aligned, (metric, "accuracy"), settings)
        rate = percent(change_rate(change[metric].before, change[metric].after))
        verdicts.append(
            claim_verdict(
                f"alignment-{method}-{metric}",
                OH,
                f"Alignment worsens calibration measured by {metric.upper()} of the `{method}` confidence.",
                number + " (7 pretrained/aligned pairs, 7B-72B, 10 tasks)",
                f"{part.model} base -> DPO, {metric.upper()} {interval_text(change[metric])} from "
                f"{change[metric].before:.3f} (CR {rate}); accuracy {interval_text(change['accuracy'])}",
                change[metric],
                Rule(+1, 0.01),
                base.cell_names + aligned.cell_names,
            )
        )
    return verdicts


def restore_claims(part: RestorePart, cells: RestoreCells, settings: MetricSettings) -> list[ClaimVerdict]:
    """Xiao et al.'s claims: DPO collapses confidence; CFT restores it (on its data too), beats TS; RCFT."""
    view = _Restore(part, cells)
    base, aligned = view.base(), view.aligned()
    verdicts = []
    collapse = base.change_to(aligned, ("ece",), settings)["ece"]
    verdicts.append(
        claim_verdict(
            "dpo-collapse",
            XIAO,
            "Preference alignment (DPO) leaves the model overconfident: its ECE rises well above the "
            "pretrained one's.",
            "aligned 7-8B models: ECE 14.2-20.1% (pretrained well calibrated)",
            f"{part.model} base -> DPO ({part.dpo_epochs} epochs), test ECE {interval_text(collapse)} from "
            f"{collapse.before:.3f} (CR {percent(change_rate(collapse.before, collapse.after))}); mean "
            f"confidence {base.mean_confidence():.3f} -> {aligned.mean_confidence():.3f}",
            collapse,
            Rule(+1, 0.05),
            base.cell_names + aligned.cell_names,
        )
    )
    if "cft" in view.chosen:
        verdicts += _cft_claims(view, settings)
    return verdicts


def _cft_claims(view: _Restore, settings: MetricSettings) -> list[ClaimVerdict]:
    """CFT against the aligned model (test and its own training items) and against TS; RCFT against CFT."""
    aligned, cft = view.aligned(), view.restored("cft")
    verdicts = []
    restored = aligned.change_to(cft, ("ece", "accuracy"), settings)
    verdicts.append(
        claim_verdict(
            "cft-restores",
            XIAO,
            "CFT (SFT of the aligned model on domain data) restores calibration.",
            "ECE 14.2-20.1% -> 2.4-6.5% (a ~70% cut)",
            f"test ECE after CFT minus the aligned model's: {interval_text(restored['ece'])} from "
            f"{restored['ece'].before:.3f}; accuracy {interval_text(restored['accuracy'])}",
            restored["ece"],
            Rule(-1, 0.35 * restored["ece"].before),
            aligned.cell_names + cft.cell_names,
        )
    )
    own = view.aligned("train:sum").change_to(view.restored("cft", "train"), ("ece",), settings)["ece"]
    verdicts.append(
        claim_verdict(
            "cft-on-its-training-split",
            XIAO,
            "CFT lowers ECE on the items it trains on (a check of the implementation: if not, it is "
            "suspect).",
            "implied by the method (not reported)",
            f"training-split ECE after CFT minus before: {interval_text(own)} from {own.before:.3f}",
            own,
            Rule(-1, SMALLEST_ECE_EFFECT),
            cft.cell_names,
        )
    )
    return [*verdicts, *_against_baselines(view, settings)]


def _against_baselines(view: _Restore, settings: MetricSettings) -> list[ClaimVerdict]:
    """CFT against temperature scaling of the aligned model; RCFT against CFT."""
    aligned, cft = view.aligned(), view.restored("cft")
    verdicts = []
    scaled = temperature_scaled(aligned, view.aligned("calibration:sum"))
    versus_ts = scaled.change_to(cft, ("ece",), settings)["ece"]
    verdicts.append(
        claim_verdict(
            "cft-vs-temperature-scaling",
            XIAO,
            "CFT beats temperature scaling (fitted on held-out items) of the aligned model.",
            "Vicuna-7B: TS 5.98% vs CFT 3.79% ECE",
            f"test ECE, CFT minus DPO + temperature scaling: {interval_text(versus_ts)} from "
            f"{versus_ts.before:.3f} ({scaled.note})",
            versus_ts,
            Rule(-1, 0.5 * 0.37 * versus_ts.before),
            cft.cell_names + aligned.cell_names,
        )
    )
    if "rcft" in view.chosen:
        rcft = view.restored("rcft")
        trade = cft.change_to(rcft, ("accuracy", "ece"), settings)
        verdicts.append(
            claim_verdict(
                "rcft-trades",
                XIAO,
                "RCFT gives up some calibration for higher accuracy than CFT.",
                "Llama-3.1-8B-Tulu: accuracy 0.623 aligned -> 0.834 RCFT; ECE 0.024 CFT vs 0.090 RCFT",
                f"test accuracy, RCFT (c {view.chosen['rcft']['value']} chosen on the calibration "
                "split) minus CFT: "
                f"{interval_text(trade['accuracy'])}; ECE {interval_text(trade['ece'])}",
                trade["accuracy"],
                Rule(+1, 0.02),
                rcft.cell_names + cft.cell_names,
            )
        )
    return verdicts


def restore_arms(part: RestorePart, cells: RestoreCells) -> list[Arm]:
    """Base, DPO, DPO + temperature scaling, and DPO + each restoring loss, on the test items."""
    view = _Restore(part, cells)
    aligned = view.aligned()
    arms = [view.base(), aligned, temperature_scaled(aligned, view.aligned("calibration:sum"))]
    return arms + [view.restored(loss) for loss in view.chosen]


def restore_rows(part: RestorePart, cells: RestoreCells, settings: MetricSettings) -> list[dict[str, Any]]:
    """Accuracy, ECE, SCE and confidence of base, DPO, DPO + each restoring loss and DPO + TS, on test."""
    rows = []
    for arm in restore_arms(part, cells):
        values = arm.values(("accuracy", "ece", "sce"), settings)
        row: dict[str, Any] = {"model": arm.label}
        for name, (value, low, high) in values.items():
            row |= {name: value, f"{name}_low": low, f"{name}_high": high}
        rows.append(row | {"mean_confidence": arm.mean_confidence(), "cells": arm.cell_names})
    return rows


def alignment_rows(part: RestorePart, cells: RestoreCells, settings: MetricSettings) -> list[dict[str, Any]]:
    """Base vs DPO under each confidence method: accuracy, ECE, SCE and their changes."""
    view = _Restore(part, cells)
    rows = []
    for method in ("sum", "mean", "min", "choice"):
        base, aligned = view.base(method), view.aligned(f"test:{method}")
        changes = base.change_to(aligned, ("accuracy", "ece", "sce"), settings)
        row: dict[str, Any] = {"method": method}
        for name, change in changes.items():
            row |= {
                f"{name}_base": change.before,
                f"{name}_aligned": change.after,
                f"{name}_change": change.delta,
                f"{name}_change_low": change.low,
                f"{name}_change_high": change.high,
                f"{name}_seeds_agreeing": change.seeds_agreeing,
            }
        rows.append(row | {"cells": base.cell_names + aligned.cell_names})
    return rows
