"""``llmcal study`` drawn for people: the verdict table, the tables behind it, and its figures.

:func:`render_study` writes ``study.md`` and ``figures/*.png`` into the study directory; with ``doc`` the same
page (figures beside it) goes to a documentation path too, its cell links pointing into the study directory.
Everything is read from :class:`~llmcal.runs.study.StudyResults`; nothing is recomputed here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmcal.atomic import write_bytes_atomic, write_text_atomic
from llmcal.metrics.binning import ReliabilityBins
from llmcal.reports.cells import gib, interval, number, seconds
from llmcal.reports.figures import figure_png
from llmcal.reports.reliability import plot_reliability
from llmcal.runs.study import StudyResults

__all__ = ["FIGURE_CAPTIONS", "render_study", "study_figures", "study_markdown"]

FIGURE_CAPTIONS = {
    "dose-response": "ECE against training length, per capacity, on known and unknown test items (mean over "
    "seeds, 95% interval); epoch 0 is the model before fine-tuning.",
    "reliability-prevention": "Before and after fine-tuning (first seed): base, SFT, the CogCalib losses.",
    "reliability-restore": "Before and after alignment and restoring (first seed).",
    "detector": "The NLL detector's test accuracy per relation and variant; the dashed line is the "
    "paper's 98%.",
}


def render_study(out: Path, results: StudyResults, doc: Path | None = None, command: str = "") -> list[Path]:
    """Writes ``out/study.md`` and its figures (and, with ``doc``, the page there); returns the files."""
    written = []
    targets = [(out / "study.md", out / "figures", out)]
    if doc is not None:
        targets.append((doc, doc.parent / f"{doc.stem}-figures", out))
    # Drawn once, written beside each page.
    pngs = {name: figure_png(figure) for name, figure in study_figures(results).items()}
    names = list(pngs)
    for page, figures_dir, study_dir in targets:
        for name, png in pngs.items():
            write_bytes_atomic(figures_dir / f"{name}.png", png)
        relative_figures = os.path.relpath(figures_dir, page.parent)
        relative_study = os.path.relpath(study_dir, page.parent)
        text = study_markdown(
            results, figures=relative_figures, names=names, study=relative_study, command=command
        )
        write_text_atomic(page, text)
        written += [page, *(figures_dir / f"{name}.png" for name in names)]
    return written


def study_figures(results: StudyResults) -> dict[str, Any]:
    """The study's figures by name (:data:`FIGURE_CAPTIONS`), those the results have data for."""
    from matplotlib.figure import Figure

    figures = {}
    tables = results.tables
    if tables.get("dose_response"):
        figure = Figure(figsize=(9.0, 3.0 * _n_capacities(tables["dose_response"])), layout="constrained")
        _dose_response(figure, tables["dose_response"])
        figures["dose-response"] = figure
    for part in ("prevention", "restore"):
        rows = [row for row in tables.get("reliability", []) if row["figure"] == part]
        if rows:
            figure = Figure(figsize=(3.2 * len(rows), 3.6), layout="constrained")
            for index, row in enumerate(rows):
                ax = figure.add_subplot(1, len(rows), index + 1)
                plot_reliability(_bins(row), ax, title=row["label"], ece=row["ece"], legend=index == 0)
            figures[f"reliability-{part}"] = figure
    if tables.get("detector"):
        figure = Figure(figsize=(9.0, 3.4), layout="constrained")
        _detector(figure, tables["detector"])
        figures["detector"] = figure
    return figures


def _n_capacities(rows: Sequence[dict[str, Any]]) -> int:
    return len({row["capacity"] for row in rows if row["capacity"]})


def _bins(row: dict[str, Any]) -> ReliabilityBins:
    def floats(key: str) -> np.ndarray:
        return np.array([np.nan if value is None else value for value in row[key]], dtype=np.float64)

    return ReliabilityBins(
        floats("edges"),
        np.array(row["counts"], dtype=np.int64),
        floats("mean_confidence"),
        floats("accuracy"),
    )


def _dose_response(figure: Any, rows: Sequence[dict[str, Any]]) -> None:
    """ECE on known and unknown test items against epochs: a row of panels per capacity, a line per loss."""
    capacities = list(dict.fromkeys(row["capacity"] for row in rows if row["capacity"]))
    base = {row["items"]: row for row in rows if row["loss"] == "base"}
    # One colour per loss in every panel (each capacity runs its own subset of the losses).
    losses = list(dict.fromkeys(row["loss"] for row in rows if row["loss"] != "base"))
    colours = {loss: f"C{index % 10}" for index, loss in enumerate(losses)}
    axes = figure.subplots(len(capacities), 2, squeeze=False, sharey=True)
    for line, capacity in enumerate(capacities):
        for column, group in enumerate(("known", "unknown")):
            ax = axes[line][column]
            chosen = [row for row in rows if row["capacity"] == capacity and row["items"] == group]
            for loss in dict.fromkeys(row["loss"] for row in chosen):
                points = sorted((row for row in chosen if row["loss"] == loss), key=lambda row: row["epochs"])
                epochs = [0] + [row["epochs"] for row in points]
                ece = [base[group]["ece"]] + [row["ece"] for row in points]
                low = [base[group]["ece_low"]] + [row["ece_low"] for row in points]
                high = [base[group]["ece_high"]] + [row["ece_high"] for row in points]
                errors = np.abs(np.array([np.subtract(ece, low), np.subtract(high, ece)], dtype=float))
                ax.errorbar(epochs, ece, yerr=errors, marker="o", capsize=2, label=loss, color=colours[loss])
            ax.set_xticks(sorted({0, *(row["epochs"] for row in chosen)}))
            ax.set_title(f"{capacity}: {group} test items", fontsize=10)
            ax.set_xlabel("epochs (0 = before fine-tuning)")
            ax.set_ylabel("ECE (mean over seeds)")
            if column == 1:  # each row's own losses
                ax.legend(fontsize=7, frameon=False)


def _detector(figure: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Detector accuracy per relation, one panel per model, a bar per variant, the paper's 98% as a line."""
    models = list(dict.fromkeys(row["model"] for row in rows))
    axes = figure.subplots(1, len(models), squeeze=False, sharey=True)[0]
    for ax, model in zip(axes, models, strict=True):
        own = [row for row in rows if row["model"] == model]
        relations = list(dict.fromkeys(row["relation"] for row in own))
        variants = list(dict.fromkeys((row["nll"], row["style_adaptation"]) for row in own))
        width = 0.8 / len(variants)
        for index, (nll, adapted) in enumerate(variants):
            values = [
                next(
                    r
                    for r in own
                    if r["relation"] == rel and r["nll"] == nll and r["style_adaptation"] == adapted
                )
                for rel in relations
            ]
            positions = np.arange(len(relations)) + index * width
            heights = [row["accuracy"] for row in values]
            errors = np.array(
                [
                    [h - row["accuracy_low"], row["accuracy_high"] - h]
                    for h, row in zip(heights, values, strict=True)
                ]
            ).T
            label = f"{nll} NLL" + (", style-adapted" if adapted else "")
            ax.bar(positions, heights, width, yerr=errors, capsize=2, label=label)
        ax.axhline(0.98, color="black", linestyle="--", linewidth=1, label="paper: 98%")
        ax.set_xticks(np.arange(len(relations)) + 0.4 - width / 2, relations, rotation=20, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(model, fontsize=10)
        ax.set_ylabel("detector accuracy (test)")
    axes[-1].legend(fontsize=7, frameon=False, loc="lower right")


def study_markdown(
    results: StudyResults,
    *,
    figures: str = "figures",
    names: Sequence[str] = (),
    study: str = ".",
    command: str = "",
) -> str:
    """The study page: how it was run, the verdict per claim, the tables and figures behind the verdicts."""
    settings = results.settings
    lines = [
        "# The papers' claims, decided on real LLMs",
        "",
        f"Generated by `{command or 'llmcal study'}` from the cells in `{study}/cells/` (each a directory "
        "with `cell.json`, and its fine-tuning or alignment run under `run/`). Preset "
        f"`{settings['name']}`; {settings['n_resamples']} bootstrap resamples; ECE with {settings['n_bins']} "
        f"equal-width bins. The cells took {seconds(results.seconds)} s of compute in all (their sum; a "
        f"resumed study counts each once); the largest peak memory was {gib(results.peak_rss_gib)} GiB.",
        "",
        "Every interval is a 95% paired bootstrap over the test items: each resample draws the items once "
        "and scores every model and seed on them; the value is the mean over seeds. Hyperparameters were "
        "chosen on the calibration split, never on the test split (tables below). Verdicts follow rules "
        "fixed before the study ran: *reproduced* (the interval excludes 0 and the effect reaches half the "
        "paper's size, or two ECE points where the paper gives none), *partly* (the paper's direction, "
        "smaller), *not reproduced* (the reverse effect, or an interval that rules out an effect of that "
        "size), *undecided* (the interval holds both 0 and that size).",
        "",
        *_demo_note(settings),
        *_what_ran(settings),
        "## Verdicts",
        "",
        "| claim | paper | paper's number | llmcal measured | verdict | why | cells |",
        "|---|---|---|---|---|---|---|",
    ]
    for verdict in results.verdicts:
        cells = ", ".join(f"[{name}]({study}/cells/{name}/cell.json)" for name in verdict.cells)
        lines.append(
            f"| {verdict.claim} | {verdict.paper} | {verdict.paper_number} | {verdict.measured} | "
            f"**{verdict.verdict}** | {verdict.why} | {cells} |"
        )
    lines += _figure_lines(names, figures)
    lines += _tables(results)
    return "\n".join(lines) + "\n"


def _demo_note(settings: dict[str, Any]) -> list[str]:
    """What a ``demo`` page is, against the full study's."""
    if settings["name"] != "demo":
        return []
    return [
        "This is `llmcal demo --real`: the full study's strongest contrasts, with its settings, on one "
        "seed, so its intervals hold only the test items' variation and its verdicts are a first look; "
        "`llmcal study` decides each claim on three seeds (the repository's docs/study.md).",
        "",
    ]


def _what_ran(settings: dict[str, Any]) -> list[str]:
    """The design in words, from the settings the study ran with: a bullet per part that ran."""
    parts = (
        (settings.get("prevention"), _prevention_design),
        (settings.get("detector"), _detector_design),
        (settings.get("restore"), _restore_design),
    )
    return ["## What ran", "", *(f"- {describe(part)}" for part, describe in parts if part), ""]


def _grids(candidates: Sequence[dict[str, Any]]) -> str:
    return "; ".join(
        f"`{c['loss']}`" + (f" {c['parameter']} in {list(c['values'])}" if c["values"] else "")
        for c in candidates
    )


def _prevention_design(prevention: dict[str, Any]) -> str:
    splits = prevention["splits"]
    capacities = ", ".join(
        f"{c['name']} (learning rate {c['learning_rate']:g})" for c in prevention["capacities"]
    )
    if len(prevention["capacities"]) > 1:
        capacities += f"; the first for every loss, the others for {list(prevention['capacity_losses'])}"
    knowledge_only = (
        ", and SFT ran on known-only and on unknown-only items too" if prevention["knowledge_only"] else ""
    )
    return (
        f"**CogCalib** on `{prevention['model']}`, task `{splits['task']}`: {splits['n_test']} test, "
        f"{splits['n_calibration']} calibration and {splits['n_train']} training items per seed (seeds "
        f"{list(prevention['seeds'])}). Losses and the strengths tried: {_grids(prevention['candidates'])}. "
        f"Each fine-tuning trains {max(prevention['epochs'])} epochs (batch {prevention['batch_size']}, "
        f"cosine schedule) and is read after {list(prevention['epochs'])}. Capacities: {capacities}. Known "
        f"= the model ranked the gold option first before fine-tuning (SliCK's greedy rule){knowledge_only}."
    )


def _detector_design(detector: dict[str, Any]) -> str:
    adapted = detector["style_adaptation_items"]
    style = (
        f"; and after style adaptation (one SFT epoch, LoRA r8, on {adapted} training items, seeds "
        f"{list(detector['seeds'])})."
        if adapted
        else " (no style adaptation)."
    )
    return (
        f"**The NLL detector** of {', '.join(f'`{m}`' for m in detector['models'])}: gold-answer NLL, summed "
        f"or per token, threshold by Youden's J on the calibration split, read on the test split{style}"
    )


def _restore_design(restore: dict[str, Any]) -> str:
    return (
        f"**Alignment and restoring** on `{restore['model']}` (a base model): DPO (LoRA r8, "
        f"{restore['dpo_epochs']} epochs, learning rate {restore['dpo_learning_rate']:g}, beta "
        f"{restore['dpo_beta']:g}) on preference pairs from {restore['splits']['n_train']} training items "
        f"(gold over a random wrong option), then {_grids(restore['candidates'])} ({restore['epochs']} "
        f"epochs, learning rate {restore['learning_rate']:g}, LoRA r8) on the same items; temperature "
        f"scaling fitted on the calibration split as the baseline; seeds {list(restore['seeds'])}."
    )


def _figure_lines(names: Sequence[str], folder: str) -> list[str]:
    lines = ["", "## Figures", ""] if names else []
    for name in names:
        lines += [f"![{name}]({folder}/{name}.png)", "", FIGURE_CAPTIONS.get(name, ""), ""]
    return lines


def _tables(results: StudyResults) -> list[str]:
    sections = {
        "dose_response": (
            "Dose-response (CogCalib losses)",
            ["loss", "capacity", "epochs", "items"],
            ["accuracy", "ece", "ece_vs_sft"],
            ["mean_confidence", "seeds_agreeing"],
        ),
        "selection_prevention": (
            "Strengths chosen on the calibration split (CogCalib)",
            ["loss", "value", "kept", "cell"],
            [],
            ["calibration_ece", "calibration_accuracy"],
        ),
        "detector": (
            "The NLL detector",
            ["model", "nll", "style_adaptation", "relation", "n_known", "n_unknown"],
            ["accuracy"],
            ["tpr", "tnr", "auroc"],
        ),
        "alignment": (
            "Base vs DPO per confidence method",
            ["method"],
            ["ece_change", "sce_change", "accuracy_change"],
            ["ece_base", "ece_aligned", "sce_base", "sce_aligned", "accuracy_base", "accuracy_aligned"],
        ),
        "restore": (
            "Restoring the aligned model",
            ["model"],
            ["accuracy", "ece", "sce"],
            ["mean_confidence"],
        ),
        "selection_restore": (
            "Strengths chosen on the calibration split (restoring)",
            ["loss", "value", "kept", "cell"],
            [],
            ["calibration_ece", "calibration_accuracy"],
        ),
        "cells": ("What each cell cost", ["cell", "kind"], [], ["seconds", "peak_rss_gib"]),
    }
    lines: list[str] = []
    for key, (title, labels, with_interval, plain) in sections.items():
        rows = results.tables.get(key)
        if not rows:
            continue
        columns = labels + with_interval + plain
        lines += [
            "",
            f"## {title}",
            "",
            "| " + " | ".join(c.replace("_", " ") for c in columns) + " |",
            "|" + "---|" * len(columns),
        ]
        for row in rows:
            cells = [str(row.get(label, "")) for label in labels]
            cells += [_with_interval(row, name) for name in with_interval]
            cells += [_plain(row.get(name)) for name in plain]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _with_interval(row: dict[str, Any], name: str) -> str:
    if name not in row:
        return ""
    signed = name.endswith("change") or name.endswith("vs_sft")
    bounds = interval(row.get(f"{name}_low"), row.get(f"{name}_high"), signed=signed)
    return f"{number(row[name], signed=signed)} {bounds}"


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return number(value)
    return "" if value is None else str(value)
