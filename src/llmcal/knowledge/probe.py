"""Probing a model before fine-tuning: which items it already knows, and how well the NLL detector tells.

Every item is labelled known/unknown by the model's own answer (its argmax option under the ``sum``
method; for an open-ended item, whether its greedy answer matches an accepted one), and gets its
gold-answer NLL (of an open-ended item, of its likeliest accepted answer), the quantity CogCalib's detector
thresholds. With held-out calibration items the detector's threshold is fitted (Youden's J) and scored on
the probed items; with several few-shot prompt variants the items also get SliCK categories.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.confidence.methods import option_scores
from llmcal.confidence.records import ItemRecord
from llmcal.errors import InputError
from llmcal.jsonl import json_text
from llmcal.knowledge.detector import ThresholdDetector, youden_threshold
from llmcal.knowledge.ground_truth import (
    SLICK_CATEGORIES,
    known_from_records,
    known_open_items,
    slick_categories,
)
from llmcal.scoring.requests import ScoringBackend, ScoringRequest
from llmcal.tasks.prompts import PromptFormat, open_answer_continuations, open_prompt
from llmcal.tasks.schema import MCItem, OpenItem
from llmcal.tasks.spec import DEFAULT_STOP, ClozeStyle

__all__ = ["DetectorScore", "ProbeResult", "ProbeSettings", "ProbedItem", "probe_knowledge"]

# The gold-answer NLL is the training loss of the answer, i.e. minus its ``sum`` score.
_NLL_METHOD = "sum"


@dataclass(frozen=True)
class ProbeSettings:
    """How items are prompted when probing.

    Attributes:
        format: The prompt the model will be trained on (``cloze`` or ``letters``); labels and NLL come
            from it, so the detector is fitted on the loss it will see in training.
        style: The items' cloze style.
        slick_prompts: Number of few-shot prompt variants for SliCK categories (0: no categories).
        slick_fewshot: Few-shot examples per SliCK prompt variant.
        stop: Open-ended items: the strings the model's answer ends at.
        max_new_tokens: Open-ended items: the most tokens of the model's answer.
    """

    format: PromptFormat = "cloze"
    style: ClozeStyle = "qa"
    slick_prompts: int = 0
    slick_fewshot: int = 2
    stop: tuple[str, ...] = DEFAULT_STOP
    max_new_tokens: int = 32

    def __post_init__(self) -> None:
        if self.slick_prompts < 0:
            raise InputError(
                f"slick_prompts must be 0 (no SliCK categories) or more; got {self.slick_prompts}."
            )
        if self.slick_fewshot < 1:
            raise InputError(
                f"slick_fewshot must be at least 1 (SliCK prompts differ by their examples); "
                f"got {self.slick_fewshot}."
            )


@dataclass(frozen=True)
class ProbedItem:
    """What the probe learned about one item.

    Attributes:
        id: Item id.
        known: Whether the model's own answer is the gold option.
        nll: Negative log-likelihood of the gold answer.
        detector_known: The fitted detector's verdict (``None`` without calibration items).
        slick: SliCK category (``None`` without SliCK prompts).
    """

    id: str
    known: bool
    nll: float
    detector_known: bool | None = None
    slick: str | None = None

    def to_json(self) -> str:
        """One JSON line (no newline); fields that were not computed are left out, not written as null.

        Raises:
            ValueError: If the NLL is not finite: strict JSON has no word for it.
        """
        row: dict[str, Any] = {"id": self.id, "known": self.known, "nll": self.nll}
        if self.detector_known is not None:
            row["detector_known"] = self.detector_known
        if self.slick is not None:
            row["slick"] = self.slick
        return json_text(row)


@dataclass(frozen=True)
class DetectorScore:
    """The NLL detector fitted on calibration items, scored against the probed items' labels.

    Attributes:
        detector: The fitted threshold.
        n_calibration_items: Items it was fitted on.
        accuracy: Share of probed items whose detector verdict matches their label.
        tpr: Share of known probed items the detector calls known (NaN if none is known).
        tnr: Share of unknown probed items the detector calls unknown (NaN if all are known).
    """

    detector: ThresholdDetector
    n_calibration_items: int
    accuracy: float
    tpr: float
    tnr: float


@dataclass(frozen=True)
class ProbeResult:
    """The probe's findings, in item order.

    Attributes:
        items: One entry per probed item.
        detector: The detector's fit and score (``None`` without calibration items).
        slick_counts: Items per SliCK category, in :data:`SLICK_CATEGORIES` order (``None`` without
            SliCK prompts).
    """

    items: tuple[ProbedItem, ...]
    detector: DetectorScore | None = None
    slick_counts: dict[str, int] | None = None

    def to_jsonl(self) -> str:
        """The label file: one JSON line per item, each ending in a newline."""
        return "".join(item.to_json() + "\n" for item in self.items)

    def summary_lines(self, data: Path) -> list[str]:
        """Human-readable findings, one line each, naming the probed file ``data``."""
        known = np.array([item.known for item in self.items])
        lines = [
            f"{data}: {known.sum()} of {len(known)} items known ({known.mean():.1%}) "
            "by the model's own answers."
        ]
        if self.detector is not None:
            score = self.detector
            lines.append(
                f"NLL threshold {score.detector.threshold:.3f} (fitted on {score.n_calibration_items} "
                f"calibration items): on {data.name} accuracy {score.accuracy:.3f}, TPR {score.tpr:.3f}, "
                f"TNR {score.tnr:.3f}."
            )
        if self.slick_counts is not None:
            counts = self.slick_counts
            lines.append("SliCK categories: " + ", ".join(f"{name} {counts[name]}" for name in counts))
        return lines


def probe_knowledge(
    items: Sequence[MCItem] | Sequence[OpenItem],
    backend: ScoringBackend,
    settings: ProbeSettings,
    *,
    calibration_items: Sequence[MCItem] | Sequence[OpenItem] = (),
) -> ProbeResult:
    """Labels ``items`` known/unknown by the model's own answers and measures what predicts it.

    Args:
        items: Items to probe, multiple-choice or open-ended (SliCK categories need options).
        backend: The model before fine-tuning.
        settings: Prompt format, cloze style and SliCK settings.
        calibration_items: Held-out items to fit the NLL threshold on; none skips the detector.

    Returns:
        Labels and gold-answer NLL per item, plus the detector's score and SliCK categories if asked for.

    Raises:
        InputError: If the calibration items are all known or all unknown (no threshold can be fitted),
            the two sets are not of one kind, or SliCK categories are asked for open-ended items.
    """
    _check_kinds(items, settings, calibration_items)
    known, nll = _known_and_nll(items, backend, settings)
    detector_known: list[bool | None] = [None] * len(items)
    detector_score = None
    if calibration_items:
        detector_score, predicted = _fit_and_score_detector(calibration_items, backend, settings, known, nll)
        detector_known = [bool(flag) for flag in predicted]
    categories: dict[str, str] = {}
    slick_counts = None
    if settings.slick_prompts:
        categories = _slick(items, backend, settings)
        tally = Counter(categories.values())
        slick_counts = {name: tally[name] for name in SLICK_CATEGORIES}
    ids = [item.id for item in items]
    probed = tuple(
        ProbedItem(
            id=item_id,
            known=bool(flag_known),
            nll=float(value),
            detector_known=flag,
            slick=categories.get(item_id),
        )
        for item_id, flag_known, value, flag in zip(ids, known, nll, detector_known, strict=True)
    )
    return ProbeResult(probed, detector_score, slick_counts)


def _check_kinds(
    items: Sequence[MCItem] | Sequence[OpenItem],
    settings: ProbeSettings,
    calibration_items: Sequence[MCItem] | Sequence[OpenItem],
) -> None:
    """Refuses calibration items of another kind, and SliCK categories of open-ended items."""
    if calibration_items and isinstance(calibration_items[0], OpenItem) != isinstance(items[0], OpenItem):
        raise InputError("The probed and the calibration items must be of one kind (open-ended or not).")
    if settings.slick_prompts and isinstance(items[0], OpenItem):
        raise InputError(
            "SliCK categories are drawn from option probabilities; for open-ended items probe without them."
        )


def _fit_and_score_detector(
    calibration_items: Sequence[MCItem] | Sequence[OpenItem],
    backend: ScoringBackend,
    settings: ProbeSettings,
    known: NDArray[np.bool_],
    nll: NDArray[np.float64],
) -> tuple[DetectorScore, NDArray[np.bool_]]:
    """The NLL threshold fitted on the calibration items, scored on the probed items' ``known`` labels.

    Returns:
        The detector's score and its verdict on each probed item (from the items' gold-answer ``nll``).
    """
    calibration_known, calibration_nll = _known_and_nll(calibration_items, backend, settings)
    detector = youden_threshold(calibration_nll, list(calibration_known))
    predicted = detector.is_known(nll)
    score = DetectorScore(
        detector=detector,
        n_calibration_items=len(calibration_items),
        accuracy=float((predicted == known).mean()),
        tpr=float(predicted[known].mean()) if known.any() else float("nan"),
        tnr=float((~predicted[~known]).mean()) if (~known).any() else float("nan"),
    )
    return score, predicted


def _slick(
    items: Sequence[MCItem] | Sequence[OpenItem], backend: ScoringBackend, settings: ProbeSettings
) -> dict[str, str]:
    """Each item's SliCK category, from its answers under ``settings.slick_prompts`` few-shot prompts."""
    mc_items = [item for item in items if isinstance(item, MCItem)]
    variants = [
        extract_records(
            mc_items,
            backend,
            ExtractionSettings(
                (_NLL_METHOD,), settings.format, num_fewshot=settings.slick_fewshot, seed=seed
            ),
            task="slick",
            style=settings.style,
            fewshot_pool=mc_items,
        )
        for seed in range(settings.slick_prompts)
    ]
    return slick_categories(variants)


def _known_and_nll(
    items: Sequence[MCItem] | Sequence[OpenItem], backend: ScoringBackend, settings: ProbeSettings
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Per item, whether the model answers it right, and the NLL of its gold answer."""
    open_items = [item for item in items if isinstance(item, OpenItem)]
    if open_items:
        return _open_known_and_nll(open_items, backend, settings)
    extraction = ExtractionSettings(methods=(_NLL_METHOD,), format=settings.format)
    mc_items = [item for item in items if isinstance(item, MCItem)]
    records = extract_records(mc_items, backend, extraction, task="probe", style=settings.style)
    truth = known_from_records(records)
    return np.array([truth[record.id] for record in records], dtype=np.bool_), _gold_nll(records)


def _open_known_and_nll(
    items: Sequence[OpenItem], backend: ScoringBackend, settings: ProbeSettings
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Known: the greedy answer matches any accepted one. NLL: of the likeliest accepted answer.

    Both read every alias, so an item whose answer the model gives as "NYC" rather than "New York City" is
    known and has a low NLL. (A fine-tuning run's detector instead reads the NLL of the answer it trains on,
    the first accepted one: the loss it regularises; docs/papers.md.)
    """
    known = known_open_items(
        items, backend, style=settings.style, stop=settings.stop, max_new_tokens=settings.max_new_tokens
    )
    scored = backend.score(
        [
            ScoringRequest(open_prompt(item, style=settings.style), open_answer_continuations(item), item.id)
            for item in items
        ]
    )
    nll = np.array([-max(option.total for option in options) for options in scored], dtype=np.float64)
    return np.array(known, dtype=np.bool_), nll


def _gold_nll(records: Sequence[ItemRecord]) -> NDArray[np.float64]:
    """Minus the gold option's ``sum`` score per record: the NLL the detector thresholds."""
    return np.array([-option_scores(record, _NLL_METHOD)[record.answer] for record in records])
