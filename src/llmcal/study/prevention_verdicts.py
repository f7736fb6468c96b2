"""CogCalib's claims on the prevention cells (known data, training length, losses, LS, TS), dose-response."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.metrics.seed_average import SeedAveragedChange
from llmcal.metrics.settings import MetricSettings
from llmcal.runs.study import ClaimVerdict
from llmcal.study.decisions import Rule
from llmcal.study.evidence import Arm, overconfidence_change, temperature_scaled
from llmcal.study.prevention import FineTuning, PreventionCells
from llmcal.study.settings import Capacity, PreventionPart
from llmcal.study.verdicts import (
    COGCALIB,
    GROUPS,
    SMALLEST_ECE_EFFECT,
    claim_verdict,
    interval_text,
)


class _Prevention:
    """The prevention part's arms: a loss at a capacity after a number of epochs, and the base model."""

    def __init__(self, part: PreventionPart, cells: PreventionCells, settings: MetricSettings) -> None:
        self.part, self.cells, self.settings = part, cells, settings
        self.known = np.array(cells.base.values["known"]["test"], dtype=bool)
        self.chosen = cells.selection.values["chosen"]
        self.last = max(part.epochs)
        self.main = part.capacities[0]

    def rows(self, group: str) -> NDArray[np.bool_] | None:
        return {"all": None, "known": self.known, "unknown": ~self.known}[group]

    def arm(self, loss: str, capacity: Capacity, epoch: int, training: str = "all") -> Arm:
        pick: dict[str, Any] = self.chosen[loss] if training == "all" else {"parameter": "", "value": None}
        runs = [
            self.cells.runs[FineTuning(loss, pick["parameter"], pick["value"], capacity, seed, training)]
            for seed in self.part.seeds
        ]
        name = loss if training == "all" else f"{training}-only {loss}"
        return Arm.of(f"{name}, {capacity.name}, {epoch} epochs", runs, f"test@{epoch}")

    def calibration_arm(self, loss: str, capacity: Capacity) -> Arm:
        arm = self.arm(loss, capacity, self.last)
        return Arm.of(arm.label, arm.cells, f"calibration@{self.last}")

    @property
    def base(self) -> Arm:
        return Arm.of("base", [self.cells.base], "test:sum")

    def losses_at(self, capacity: Capacity) -> list[str]:
        if capacity == self.main:
            return [candidate.loss for candidate in self.part.candidates]
        return list(self.part.capacity_losses)


__all__ = ["dose_response_rows", "prevention_arms", "prevention_claims"]


def dose_response_rows(
    part: PreventionPart, cells: PreventionCells, settings: MetricSettings
) -> list[dict[str, Any]]:
    """Accuracy, ECE and confidence of every loss x capacity x epochs on all, known and unknown test items."""
    view = _Prevention(part, cells, settings)
    rows = []
    for group in GROUPS:
        values = view.base.values(("accuracy", "ece"), settings, view.rows(group))
        rows.append(
            _dose_row(
                "base", "", 0, group, values, view.base.mean_confidence(view.rows(group)), None, view.base
            )
        )
    for capacity in part.capacities:
        for epoch in sorted(set(part.epochs)):
            sft = view.arm("sft", capacity, epoch)
            for loss in view.losses_at(capacity):
                arm = view.arm(loss, capacity, epoch)
                for group in GROUPS:
                    mask = view.rows(group)
                    values = arm.values(("accuracy", "ece"), settings, mask)
                    versus = None if loss == "sft" else sft.change_to(arm, ("ece",), settings, mask)["ece"]
                    rows.append(
                        _dose_row(
                            loss, capacity.name, epoch, group, values, arm.mean_confidence(mask), versus, arm
                        )
                    )
    return rows


def _dose_row(
    loss: str,
    capacity: str,
    epochs: int,
    group: str,
    values: dict[str, tuple[float, float, float]],
    confidence: float,
    versus_sft: SeedAveragedChange | None,
    arm: Arm,
) -> dict[str, Any]:
    row: dict[str, Any] = {"loss": loss, "capacity": capacity, "epochs": epochs, "items": group}
    for name, (value, low, high) in values.items():
        row |= {name: value, f"{name}_low": low, f"{name}_high": high}
    row["mean_confidence"] = confidence
    if versus_sft is not None:
        row |= {
            "ece_vs_sft": versus_sft.delta,
            "ece_vs_sft_low": versus_sft.low,
            "ece_vs_sft_high": versus_sft.high,
            "seeds_agreeing": versus_sft.seeds_agreeing,
        }
    row["cells"] = arm.cell_names
    return row


def prevention_claims(
    part: PreventionPart, cells: PreventionCells, settings: MetricSettings
) -> list[ClaimVerdict]:
    """CogCalib's claims: known data, training length, the three losses, selective vs plain LS, vs TS."""
    view = _Prevention(part, cells, settings)
    return [
        *_knowledge_ratio(view),
        *_overconfidence_growth(view),
        *_losses_vs_sft(view),
        *_selective_and_temperature(view),
    ]


def _knowledge_ratio(view: _Prevention) -> list[ClaimVerdict]:
    if not view.part.knowledge_only:
        return []
    known_only = view.arm("sft", view.main, view.last, "known")
    unknown_only = view.arm("sft", view.main, view.last, "unknown")
    change = unknown_only.change_to(known_only, ("ece",), view.settings)["ece"]
    return [
        claim_verdict(
            "knowledge-ratio",
            COGCALIB,
            "Fine-tuning on known data leaves a model worse calibrated than fine-tuning on unknown data.",
            "OBQA, Llama3-8B: unknown:known 5:0 best calibrated, 0:5 worst (no ECE given)",
            f"test ECE, known-only minus unknown-only SFT ({view.main.name}, {view.last} epochs, "
            f"{known_only.cells[0].values['n_train']} items each): {interval_text(change)}",
            change,
            Rule(+1, SMALLEST_ECE_EFFECT),
            known_only.cell_names + unknown_only.cell_names,
        )
    ]


def _overconfidence_growth(view: _Prevention) -> list[ClaimVerdict]:
    """SFT's overconfidence on known items, longest minus shortest training, at least and most capacity."""
    capacities = [view.main] if len(view.part.capacities) == 1 else [view.main, view.part.capacities[-1]]
    first, verdicts = min(view.part.epochs), []
    for capacity in capacities:
        early, late = view.arm("sft", capacity, first), view.arm("sft", capacity, view.last)
        change = overconfidence_change(early, late, view.settings, view.known)
        verdicts.append(
            claim_verdict(
                f"overconfidence-grows-{capacity.name}",
                COGCALIB,
                "Training on known items keeps raising confidence after accuracy stops: overconfidence on "
                "known items grows with training.",
                "the model fits known examples within ~200 steps; confidence keeps rising after (no number "
                "given)",
                f"known test items, SFT {capacity.name}: (confidence - accuracy) after {view.last} "
                "minus after "
                f"{first} epochs: {interval_text(change)} (from {change.before:+.3f})",
                change,
                Rule(+1, SMALLEST_ECE_EFFECT),
                early.cell_names,
            )
        )
    return verdicts


def _losses_vs_sft(view: _Prevention) -> list[ClaimVerdict]:
    """Each CogCalib loss against SFT at the main dose, and cogcalib-ls at every larger capacity."""
    sft = view.arm("sft", view.main, view.last)
    sft_ece, base_ece = sft.value("ece", view.settings), view.base.value("ece", view.settings)
    trained = (
        f"; training moved the model: test ECE {base_ece:.3f} before, {sft_ece:.3f} after SFT, mean "
        f"confidence {view.base.mean_confidence():.3f} -> {sft.mean_confidence():.3f}"
    )
    verdicts = []
    for loss in ("cogcalib-ls", "cogcalib-mbls", "cogcalib-ecp"):
        if loss not in view.chosen:
            continue
        arm, pick = view.arm(loss, view.main, view.last), view.chosen[loss]
        changes = sft.change_to(arm, ("ece", "accuracy"), view.settings)
        verdicts.append(
            claim_verdict(
                f"{loss}-vs-sft",
                COGCALIB,
                f"{loss} calibrates better than plain SFT, at no cost in accuracy.",
                "Llama3-8B, LoRA: ECE 57% lower than SFT on average (OBQA 11.2% -> 2.5% CoLS, 3.7% CoMbLS, "
                "7.3% CoECP); accuracy equal or higher",
                f"test ECE minus SFT's ({view.main.name}, {view.last} epochs, {pick['parameter']} "
                f"{pick['value']} chosen on the calibration split): {interval_text(changes['ece'])} from "
                f"{sft_ece:.3f}; accuracy {interval_text(changes['accuracy'])}",
                changes["ece"],
                Rule(-1, 0.5 * 0.57 * sft_ece),
                arm.cell_names + sft.cell_names,
                trained,
            )
        )
    if not {"sft", "cogcalib-ls"} <= set(view.part.capacity_losses):
        return verdicts
    for capacity in view.part.capacities[1:]:
        reference = view.arm("sft", capacity, view.last)
        arm = view.arm("cogcalib-ls", capacity, view.last)
        change = reference.change_to(arm, ("ece",), view.settings)["ece"]
        verdicts.append(
            claim_verdict(
                f"cogcalib-ls-vs-sft-{capacity.name}",
                COGCALIB,
                f"cogcalib-ls calibrates better than SFT at a larger dose ({capacity.name}, {view.last} "
                "epochs).",
                "as above: 57% lower ECE on average",
                f"test ECE minus SFT's: {interval_text(change)} from {change.before:.3f}",
                change,
                Rule(-1, 0.5 * 0.57 * change.before),
                arm.cell_names + reference.cell_names,
            )
        )
    return verdicts


def _selective_and_temperature(view: _Prevention) -> list[ClaimVerdict]:
    """cogcalib-ls against plain LS, and against temperature scaling of the SFT model."""
    if "cogcalib-ls" not in view.chosen:
        return []
    selective = view.arm("cogcalib-ls", view.main, view.last)
    verdicts = []
    if "ls" in view.chosen:
        plain = view.arm("ls", view.main, view.last)
        change = plain.change_to(selective, ("ece",), view.settings)["ece"]
        verdicts.append(
            claim_verdict(
                "selective-vs-plain-ls",
                COGCALIB,
                "Smoothing only the items the model knows beats smoothing every item (why CogCalib detects "
                "knowledge at all).",
                "not reported; CoLS is label smoothing restricted to known items",
                f"test ECE, cogcalib-ls minus ls (each at its chosen strength): {interval_text(change)}",
                change,
                Rule(-1, SMALLEST_ECE_EFFECT),
                plain.cell_names + selective.cell_names,
            )
        )
    sft = view.arm("sft", view.main, view.last)
    scaled = temperature_scaled(sft, view.calibration_arm("sft", view.main))
    change = scaled.change_to(selective, ("ece",), view.settings)["ece"]
    verdicts.append(
        claim_verdict(
            "cogcalib-vs-temperature-scaling",
            COGCALIB,
            "CogCalib's losses beat temperature scaling of the SFT model.",
            "OBQA, Llama3-8B: TS 9.9% vs CoLS 2.5% ECE",
            f"test ECE, cogcalib-ls minus SFT + temperature scaling (fitted on the calibration split): "
            f"{interval_text(change)} from {change.before:.3f} ({scaled.note})",
            change,
            Rule(-1, 0.5 * 0.75 * change.before),
            selective.cell_names + sft.cell_names,
        )
    )
    return verdicts


def prevention_arms(part: PreventionPart, cells: PreventionCells) -> list[Arm]:
    """Before and after CogCalib's fine-tuning, on the test items.

    Base, SFT and each CogCalib loss (main capacity, longest training), and SFT at the largest capacity.
    """
    view = _Prevention(part, cells, MetricSettings())
    arms = [view.base, view.arm("sft", view.main, view.last)]
    arms += [view.arm(loss, view.main, view.last) for loss in view.chosen if loss.startswith("cogcalib")]
    if len(part.capacities) > 1 and "sft" in part.capacity_losses:
        arms.append(view.arm("sft", part.capacities[-1], view.last))
    return arms
