"""``llmcal probe``: which items a model already knows, and how well the NLL-threshold detector tells."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from llmcal.atomic import write_text_atomic
from llmcal.cli.option_values import cloze_style_option, prompt_format_option
from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.confidence.methods import option_scores
from llmcal.confidence.records import ItemRecord
from llmcal.knowledge.detector import youden_threshold
from llmcal.knowledge.ground_truth import SLICK_CATEGORIES, known_from_records, slick_categories
from llmcal.tasks.loading import load_items

__all__ = ["probe"]


def _gold_nll(records: list[ItemRecord]) -> np.ndarray:
    return np.array([-option_scores(record, "sum")[record.answer] for record in records])


def probe(
    model: Annotated[str, typer.Option(help="Model before fine-tuning (hub id or local directory).")],
    data: Annotated[Path, typer.Option(help="Items to label (.jsonl/.csv/.parquet).")],
    out: Annotated[Path, typer.Option(help="Output JSONL: id, known, nll (and detector_known).")],
    calibration_data: Annotated[
        Path | None, typer.Option(help="Held-out items to fit the NLL threshold on (Youden's J).")
    ] = None,
    cloze_style: Annotated[str, typer.Option(help="qa | completion | partial.")] = "qa",
    format: Annotated[
        str, typer.Option("--format", help="cloze | letters: the prompt the model will be trained on.")
    ] = "cloze",
    slick_prompts: Annotated[
        int, typer.Option(min=0, help="Also give SliCK categories from this many few-shot prompt variants.")
    ] = 0,
    slick_fewshot: Annotated[int, typer.Option(min=1, help="Few-shot examples per SliCK prompt.")] = 2,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | mps.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto | float32 | float16 | bfloat16.")] = "auto",
) -> None:
    """Label items known/unknown by the model's own answers, and fit and score the NLL detector."""
    style = cloze_style_option(cloze_style)
    prompt_format = prompt_format_option(format)
    items = load_items(data)
    calibration = load_items(calibration_data) if calibration_data else []
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from llmcal.scoring.hf import HFBackend

    backend = HFBackend(model, device=device, dtype=dtype)
    settings = ExtractionSettings(methods=("sum",), format=prompt_format)
    records = extract_records(items, backend, settings, task="probe", style=style)
    truth = known_from_records(records)
    nll = _gold_nll(records)
    rows = [{"id": r.id, "known": truth[r.id], "nll": float(v)} for r, v in zip(records, nll, strict=True)]
    console = Console()
    known = np.array([truth[r.id] for r in records])
    console.print(
        f"{data}: {known.sum()} of {len(known)} items known ({known.mean():.1%}) by the model's own answers."
    )
    if calibration:
        calibration_records = extract_records(calibration, backend, settings, task="calibration", style=style)
        calibration_truth = known_from_records(calibration_records)
        detector = youden_threshold(
            _gold_nll(calibration_records), [calibration_truth[r.id] for r in calibration_records]
        )
        predicted = detector.is_known(nll)
        for row, flag in zip(rows, predicted, strict=True):
            row["detector_known"] = bool(flag)
        tpr = float(predicted[known].mean()) if known.any() else float("nan")
        tnr = float((~predicted[~known]).mean()) if (~known).any() else float("nan")
        console.print(
            f"NLL threshold {detector.threshold:.3f} (fitted on {len(calibration)} calibration items): "
            f"on {data.name} accuracy {(predicted == known).mean():.3f}, TPR {tpr:.3f}, TNR {tnr:.3f}."
        )
    if slick_prompts:
        variants = [
            extract_records(
                items,
                backend,
                ExtractionSettings(("sum",), prompt_format, num_fewshot=slick_fewshot, seed=seed),
                task="slick",
                style=style,
                fewshot_pool=items,
            )
            for seed in range(slick_prompts)
        ]
        categories = slick_categories(variants)
        for row in rows:
            row["slick"] = categories[str(row["id"])]
        counts = Counter(categories.values())
        console.print("SliCK categories: " + ", ".join(f"{name} {counts[name]}" for name in SLICK_CATEGORIES))
    write_text_atomic(out, "".join(json.dumps(row) + "\n" for row in rows))
    console.print(f"wrote {out}")
