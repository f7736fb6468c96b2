"""What the study reads off a model: option probabilities per confidence method, and gold-answer NLLs.

Every reading is of the model as it is (in-memory, after training, or loaded), in the task's own cloze
prompt (``choice``: the letters prompt), scored by the backend ``llmcal eval`` uses.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.confidence.methods import option_scores, probabilities
from llmcal.confidence.records import ItemRecord
from llmcal.finetune.run import finetune
from llmcal.finetune.settings import FinetuneSettings
from llmcal.knowledge.ground_truth import known_from_records
from llmcal.runs.study import ProbabilityTable
from llmcal.runs.training import TrainingResults
from llmcal.scoring.hf import HFBackend
from llmcal.tasks.schema import MCItem
from llmcal.tasks.spec import ClozeStyle

__all__ = ["Reading", "fine_tuned", "in_memory_backend", "read_model"]


class Reading:
    """A model's records on a list of items, read as probability tables and gold-answer NLLs."""

    def __init__(self, items: Sequence[MCItem], records: Sequence[ItemRecord]) -> None:
        self.ids = [item.id for item in items]
        self.records = list(records)

    def table(self, method: str = "sum") -> ProbabilityTable:
        """The option probabilities under ``method``."""
        return ProbabilityTable.of(self.ids, probabilities(self.records, method))

    def gold_nll(self, method: str = "sum") -> list[float]:
        """Per item, minus the gold option's score under ``method`` (``sum``: NLL; ``mean``: per token)."""
        return [float(-option_scores(record, method)[record.answer]) for record in self.records]

    def known(self) -> list[bool]:
        """Per item, whether the model ranks the gold option first under ``sum`` (SliCK's greedy rule)."""
        truth = known_from_records(self.records)
        return [truth[item_id] for item_id in self.ids]


def in_memory_backend(model: Any, tokenizer: Any) -> HFBackend:
    """A float32 scoring backend over an in-memory model (plain or LoRA-wrapped), on its device."""
    device = str(next(model.parameters()).device)
    return HFBackend("in-memory", device=device, dtype="float32", model_object=model, tokenizer=tokenizer)


def read_model(
    backend: HFBackend, items: Sequence[MCItem], style: ClozeStyle, methods: Sequence[str] = ("sum", "mean")
) -> Reading:
    """The model's records on ``items`` for ``methods``."""
    records = extract_records(items, backend, ExtractionSettings(tuple(methods)), task="study", style=style)
    return Reading(items, records)


def fine_tuned(
    backend: HFBackend, train: Sequence[MCItem], settings: FinetuneSettings, directory: Path
) -> tuple[HFBackend, TrainingResults]:
    """A copy of ``backend``'s model fine-tuned on ``train`` (its run in ``directory/run``), as a backend."""
    trained, results = finetune(
        copy.deepcopy(backend.model), backend.tokenizer, train, settings, directory / "run", save_model=False
    )
    return in_memory_backend(trained, backend.tokenizer), results
