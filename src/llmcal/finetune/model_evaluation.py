"""The calibration of an in-memory model on evaluation items, as a training run measures it before and after.

Multiple-choice items are scored with the ``sum`` method; open-ended items are answered greedily and read
with the ``seq-prob`` confidence (accuracy = exact match; SCE and Brier, which need options, are left
empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.confidence.generation_extraction import GenerationSettings, extract_generation_records
from llmcal.confidence.methods import OptionProbabilities, probabilities
from llmcal.confidence.predictions import method_predictions
from llmcal.metrics.predictions import Predictions
from llmcal.metrics.summary import CalibrationRow, calibration_row, predictions_row
from llmcal.scoring.hf import HFBackend
from llmcal.tasks.prompts import PromptFormat
from llmcal.tasks.schema import MCItem, OpenItem
from llmcal.tasks.spec import DEFAULT_STOP, ClozeStyle

__all__ = ["EvaluationItems", "evaluate_model", "evaluate_open_model"]

# The confidence in a generated answer that the before/after rows of an open-ended run report.
_OPEN_EVAL_METHOD = "seq-prob"


def _in_memory_backend(model: Any, tokenizer: Any) -> HFBackend:
    """A float32 scoring backend over an in-memory model, on the device it is on."""
    return HFBackend("in-memory", device=str(next(model.parameters()).device), dtype="float32",
                     model_object=model, tokenizer=tokenizer)  # fmt: skip


def evaluate_model(
    model: Any, tokenizer: Any, items: Sequence[MCItem], *, format: PromptFormat, style: ClozeStyle
) -> OptionProbabilities:
    """Option probabilities (``sum`` method), labels and option mask of ``items`` under an in-memory model."""
    backend = _in_memory_backend(model, tokenizer)
    records = extract_records(items, backend, ExtractionSettings(("sum",), format), task="eval", style=style)
    return probabilities(records, "sum")


def evaluate_open_model(
    model: Any, tokenizer: Any, items: Sequence[OpenItem], *, style: ClozeStyle, stop: tuple[str, ...]
) -> Predictions:
    """The ``seq-prob`` predictions on open-ended ``items`` under an in-memory model (greedy answers)."""
    backend = _in_memory_backend(model, tokenizer)
    settings = GenerationSettings((_OPEN_EVAL_METHOD,))
    records = extract_generation_records(items, backend, settings, task="eval", style=style, stop=stop)
    return method_predictions(records, _OPEN_EVAL_METHOD, "eval")


@dataclass(frozen=True)
class EvaluationItems:
    """The items a training run evaluates before and after training, and how they are prompted.

    Attributes:
        items: Multiple-choice or open-ended items; none: the run evaluates nothing.
        format: Prompt format of multiple-choice items.
        style: Cloze style of the items.
        stop: Open-ended items: where a generated answer ends.
    """

    items: Sequence[MCItem] | Sequence[OpenItem] = ()
    format: PromptFormat = "cloze"
    style: ClozeStyle = "qa"
    stop: tuple[str, ...] = DEFAULT_STOP

    def row(self, model: Any, tokenizer: Any) -> CalibrationRow | None:
        """The items' calibration under ``model`` (open-ended items, if any), or None without items."""
        if not self.items:
            return None
        open_items = [item for item in self.items if isinstance(item, OpenItem)]
        if open_items:
            predictions = evaluate_open_model(model, tokenizer, open_items, style=self.style, stop=self.stop)
            return predictions_row(predictions)
        mc_items = [item for item in self.items if isinstance(item, MCItem)]
        return calibration_row(
            *evaluate_model(model, tokenizer, mc_items, format=self.format, style=self.style)
        )
