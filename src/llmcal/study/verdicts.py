"""What every claim's verdict is made of: the papers' names, the smallest effect that counts, the phrasing.

Each paper's claims are in their own module (:mod:`~llmcal.study.prevention_verdicts`,
:mod:`~llmcal.study.detector_verdicts`, :mod:`~llmcal.study.restore_verdicts`), each with its measurement, its
paper number and its :class:`~llmcal.study.decisions.Rule`, written before the study ran. Where a paper gives
no size for an effect, the smallest effect that counts is :data:`SMALLEST_ECE_EFFECT` (two points of ECE).
"""

from __future__ import annotations

from collections.abc import Sequence

from llmcal.metrics.seed_average import SeedAveragedChange
from llmcal.runs.study import Cell, ClaimVerdict
from llmcal.study.decisions import Rule, decide

__all__ = [
    "COGCALIB",
    "GROUPS",
    "OH",
    "SMALLEST_ECE_EFFECT",
    "XIAO",
    "cells_cost",
    "claim_verdict",
    "interval_text",
    "seeds_text",
]

SMALLEST_ECE_EFFECT = 0.02
GROUPS = ("all", "known", "unknown")
COGCALIB = "CogCalib (Wang et al., ACL 2025)"
XIAO = "CFT / RCFT (Xiao et al., ICML 2025)"
OH = "Alignment and confidence (Oh & Hwang, 2024)"


def interval_text(change: SeedAveragedChange) -> str:
    """A change with its interval, signed: ``+0.012 [-0.004, +0.030]``."""
    return f"{change.delta:+.3f} [{change.low:+.3f}, {change.high:+.3f}]"


def seeds_text(change: SeedAveragedChange) -> str:
    """How many seeds' own changes share the sign of the mean one."""
    return f"{change.seeds_agreeing} of {len(change.per_seed)} seeds"


def claim_verdict(
    claim_id: str,
    paper: str,
    claim: str,
    paper_number: str,
    measured: str,
    change: SeedAveragedChange,
    rule: Rule,
    cells: Sequence[str],
    context: str = "",
) -> ClaimVerdict:
    """The verdict on ``change`` under ``rule``, with the reason, the seeds' agreement and ``context``.

    Why it is long: a claim's row has this many fields, each given where the claim is written.
    """
    decision = decide(change.delta, change.low, change.high, rule)
    why = f"{decision.reason} ({rule.meaningful:.3f} here); {seeds_text(change)} agree in sign{context}."
    return ClaimVerdict(
        claim_id,
        paper,
        claim,
        paper_number,
        measured,
        change.delta,
        change.low,
        change.high,
        decision.verdict,
        why,
        sorted(set(cells)),
    )


def cells_cost(cells: Sequence[Cell]) -> tuple[float, float]:
    """The cells' summed wall time and their largest peak memory."""
    return sum(cell.seconds for cell in cells), max((cell.peak_rss_gib for cell in cells), default=0.0)
