"""The page of ``llmcal demo --real``: the headline figure, each claim's table, the costs, then its runs."""

from __future__ import annotations

from pathlib import Path

from llmcal.reports.cells import gib, number, seconds
from llmcal.reports.headline import real_claims_headline_png
from llmcal.reports.pages.parts import (
    Part,
    Section,
    SubRun,
    calibration_table,
    escape,
    image,
    settings_block,
    table,
)
from llmcal.runs.comparison import COMPARISON_NAME
from llmcal.runs.kinds import RunOutput
from llmcal.runs.manifest import MANIFEST_NAME
from llmcal.runs.real_claims import AlignmentClaims, PreventionClaims, RealClaimsResults

__all__ = ["real_claims_sections"]


def real_claims_sections(output: RunOutput, heading: str) -> list[Part]:
    """The headline figure, each claim that ran, what each step cost, then the evaluations it made.

    The page's own headings replace ``heading``.
    """
    path, results = output.path, output.run
    sections: list[Part] = [_headline_section(path, results)]
    if results.prevention is not None:
        sections.append(_prevention_section(results.prevention))
    if results.alignment is not None:
        sections.append(_alignment_section(results.alignment))
        sections.append(
            SubRun(
                path / "alignment" / "comparison", "Claim 2: base vs aligned, every method", COMPARISON_NAME
            )
        )
    costs = [[escape(step.step), seconds(step.seconds), gib(step.peak_rss_gib)] for step in results.steps]
    sections.append(
        Section("What each step cost", table(["step", "seconds", "peak resident memory so far (GiB)"], costs))
    )
    for name, label in (("base-test", "base model"), ("aligned-test", "aligned model")):
        sections.append(SubRun(path / "alignment" / name, f"Evaluation: the {label}", MANIFEST_NAME))
    return sections


def _headline_section(path: Path, results: RealClaimsResults) -> Section:
    return Section(
        f"The papers' claims on real LLMs: {path}",
        image(
            real_claims_headline_png(results),
            "the claims in one figure",
            "ECE on held-out fact questions: each fine-tuning variant on items the model knew and did "
            "not know before (CogCalib); each confidence method before and after DPO (Oh & Hwang); the "
            "base, aligned and restored models (Xiao et al.).",
        ),
    )


def _prevention_section(prevention: PreventionClaims) -> Section:
    detector = prevention.detector
    text = (
        f"<p><code>{escape(prevention.model)}</code>, LoRA fine-tuning with each loss at "
        "<code>llmcal finetune</code>'s default strength, method <code>sum</code>. Known = answered "
        "right before fine-tuning. CogCalib's NLL detector, its threshold fitted on the calibration "
        f"items, on the {detector.n_items} test items: accuracy "
        f"{number(detector.accuracy)}, TPR {number(detector.tpr)}, TNR {number(detector.tnr)}.</p>"
    )
    return Section(
        "Claim 1 (CogCalib): fine-tuning losses, known vs unknown items",
        text + calibration_table(prevention.rows, "items") + settings_block(prevention.settings),
    )


def _alignment_section(alignment: AlignmentClaims) -> Section:
    text = (
        f"<p><code>{escape(alignment.model)}</code> aligned with DPO (LoRA) on "
        f"{escape(alignment.settings.get('n_pairs'))} preference pairs from fact items, then fine-tuned "
        "with CFT and RCFT (LoRA) on the same items. Known = the base model answered it right.</p>"
    )
    return Section(
        "Claims 2 and 3: DPO of a base model, then CFT and RCFT",
        text + calibration_table(alignment.rows, "items") + settings_block(alignment.settings),
    )
