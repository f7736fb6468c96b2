"""The demo's headline figure: the story in one picture, before any table.

Left, the knowledge world: ECE of each variant on the people whose facts the model read (known) and on
the rest (unknown). Right, the real model on real facts: accuracy and mean confidence per popularity
stratum, rarest facts first; the gap between confidence and accuracy is the miscalibration, shown before
and after temperature scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from llmcal.atomic import figure_png
from llmcal.reports.cells import number, temperature_cell
from llmcal.runs.demo import DemoResults, DemoRow, RealModelResults
from llmcal.runs.real_claims import RealClaimsResults

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["demo_headline_png", "real_claims_headline_png"]

# The knowledge world's other methods; the headline keeps `sum` (fine-tuned variants are scored with it).
_OTHER_METHODS = (" mean", " min")
# The real model's method shown by popularity: the one lm-evaluation-harness's `acc` uses.
_REAL_METHOD = "sum"


def demo_headline_png(demo: DemoResults) -> bytes:
    """PNG of the headline figure: one panel per part of the demo that ran."""
    from matplotlib.figure import Figure

    panels = 1 if demo.real_model is None else 2
    figure = Figure(figsize=(6.4 * panels, 5.4), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    _world_panel(axes[0], demo.rows)
    if demo.real_model is not None:
        _popularity_panel(axes[1], demo.real_model)
    return figure_png(figure)


def _world_panel(ax: Axes, rows: Sequence[DemoRow]) -> None:
    kept = [row for row in rows if not row.variant.endswith(_OTHER_METHODS)]
    _known_unknown_panel(ax, kept, "people")
    ax.set_xlabel("ECE on the test people (lower is better)")
    ax.set_title("Knowledge world, tiny GPT-2: ECE per variant")


def _known_unknown_panel(ax: Axes, rows: Sequence[DemoRow], noun: str) -> None:
    """ECE of each variant on its known and unknown test items, side by side, first variant on top."""
    ece: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.group in ("known", "unknown"):
            ece.setdefault(row.variant, {})[row.group] = row.calibration.ece
    variants = [variant for variant, groups in ece.items() if len(groups) == 2]
    positions = np.arange(len(variants), dtype=np.float64)
    height = 0.38
    for offset, group, colour in ((-height / 2, "known", "#4C72B0"), (height / 2, "unknown", "#DD8452")):
        values = [ece[variant][group] for variant in variants]
        ax.barh(positions + offset, values, height=height, color=colour, label=f"{group} {noun}")
    ax.set_yticks(positions, [variant.removesuffix(" sum") for variant in variants])
    ax.invert_yaxis()
    widest = max((value for groups in ece.values() for value in groups.values()), default=0.0)
    ax.set_xlim(0, 1.4 * widest if widest > 0 else 1.0)  # room at the right for the legend
    ax.legend(loc="best", frameon=True, framealpha=0.9)
    ax.grid(axis="x", alpha=0.3)


def _popularity_panel(ax: Axes, real: RealModelResults) -> None:
    def by_stratum(variant: str) -> list[DemoRow]:
        order = {label: position for position, label in enumerate(real.strata)}
        chosen = [row for row in real.rows if row.variant == variant and row.group in order]
        return sorted(chosen, key=lambda row: order[row.group])

    raw, scaled = by_stratum(_REAL_METHOD), by_stratum(f"{_REAL_METHOD} + temperature")
    positions = np.arange(len(raw), dtype=np.float64)
    ax.plot(positions, [r.calibration.accuracy for r in raw], "o-", color="#222222", label="accuracy")
    ax.plot(
        positions, [r.calibration.mean_confidence for r in raw], "s--", color="#C44E52",
        label="mean confidence",
    )  # fmt: skip
    ax.plot(
        positions, [r.calibration.mean_confidence for r in scaled], "^:", color="#55A868",
        label=f"mean confidence, temperature {temperature_cell(real.temperatures[_REAL_METHOD])}",
    )  # fmt: skip
    for position, row, after in zip(positions, raw, scaled, strict=True):
        ax.annotate(
            f"ECE {number(row.calibration.ece)}\n→ {number(after.calibration.ece)}",
            (position, 0.02), ha="center", va="bottom", fontsize=8, color="0.3",
        )  # fmt: skip
    ax.set_xticks(positions, [f"{label}\n(n={row.calibration.n_items})" for label, row in zip(
        real.strata, raw, strict=True)], fontsize=8)  # fmt: skip
    ax.set_xlabel(f"{real.by} of the place asked about (rarest first)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy / confidence")
    ax.set_title(f"{real.model} on {real.n_test} real fact questions ({_REAL_METHOD})")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def real_claims_headline_png(results: RealClaimsResults) -> bytes:
    """PNG of ``llmcal demo --real`` in one picture: a panel per claim whose part ran.

    CogCalib: ECE of each fine-tuning variant on known and unknown test items. Oh & Hwang: ECE of each
    confidence method before and after DPO. Xiao et al.: ECE of the base, aligned, and restored models on
    known and unknown items.
    """
    from matplotlib.figure import Figure

    prevention, alignment = results.prevention, results.alignment
    panels = (prevention is not None) + 2 * (alignment is not None)
    figure = Figure(figsize=(5.4 * max(panels, 1), 5.0), layout="constrained")
    axes = iter(figure.subplots(1, max(panels, 1), squeeze=False)[0])
    if prevention is not None:
        ax = next(axes)
        _known_unknown_panel(ax, prevention.rows, "items")
        ax.set_xlabel("ECE on the test items (sum; lower is better)")
        ax.set_title(f"CogCalib: {prevention.model}, LoRA")
    if alignment is not None:
        ax = next(axes)
        changes = {c.method: c for c in alignment.comparison if c.metric == "ece"}
        methods = list(changes)
        positions = np.arange(len(methods), dtype=np.float64)
        ax.bar(positions - 0.2, [changes[m].base for m in methods], width=0.4, color="#8C8C8C", label="base")
        ax.bar(positions + 0.2, [changes[m].aligned for m in methods], width=0.4, color="#C44E52",
               label="after DPO")  # fmt: skip
        ax.set_xticks(positions, methods)
        ax.set_ylabel("ECE on the test items (lower is better)")
        ax.set_title(f"Alignment: {alignment.model}, base vs DPO")
        ax.legend(frameon=False)
        ax.grid(axis="y", alpha=0.3)
        ax = next(axes)
        _known_unknown_panel(ax, alignment.rows, "items")
        ax.set_xlabel("ECE on the test items (sum; lower is better)")
        ax.set_title("Restoring it: CFT and RCFT after DPO")
    return figure_png(figure)
