"""Per-item results of an evaluation: every option's raw scores, so any method can be recomputed later."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmcal.errors import InputError
from llmcal.scoring.requests import ContinuationScore
from llmcal.tasks.schema import MetadataValue

__all__ = ["ItemRecord"]


@dataclass(frozen=True)
class ItemRecord:
    """Everything an evaluation learned about one item.

    Attributes:
        task: Task the item belongs to.
        id: Item id (unique within the task).
        answer: Gold option index.
        n_options: Number of options.
        subject: Optional subject, for breakdowns.
        options: Continuation scores per option, as the backend returned them (``None`` if no
            continuation method ran).
        letters: ``log p(letter_k)`` at the answer position of the letters prompt (``None`` if the
            ``choice`` method did not run).
        metadata: The item's metadata fields (e.g. ``popularity``), for breakdowns of the results.
    """

    task: str
    id: str
    answer: int
    n_options: int
    subject: str | None
    options: tuple[ContinuationScore, ...] | None
    letters: tuple[float, ...] | None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # NaN/inf scores would poison every metric silently; stop at the item that produced them.
        values = [v for option in self.options or () for v in option.token_logprobs] + list(
            self.letters or ()
        )
        if not all(math.isfinite(value) for value in values):
            bad = [value for value in values if not math.isfinite(value)][:3]
            raise InputError(
                f"{self.task}/{self.id}: the model gave non-finite log-probabilities ({bad}); "
                "with float16/bfloat16 try --dtype float32."
            )

    @property
    def key(self) -> tuple[str, str]:
        """``(task, id)``: unique within a run."""
        return (self.task, self.id)

    def to_json(self) -> str:
        """One JSON line (no trailing newline)."""
        payload: dict[str, Any] = {
            "task": self.task,
            "id": self.id,
            "answer": self.answer,
            "n_options": self.n_options,
            "subject": self.subject,
            "options": None
            if self.options is None
            else [{"logprobs": list(o.token_logprobs), "greedy": o.is_greedy} for o in self.options],
            "letters": None if self.letters is None else list(self.letters),
        }
        if self.metadata:  # absent rather than empty: records of items without metadata stay as they were
            payload["metadata"] = dict(self.metadata)
        return json.dumps(payload, allow_nan=False)

    @classmethod
    def from_json(cls, line: str, *, where: str) -> ItemRecord:
        """Parses a line written by :meth:`to_json`.

        Raises:
            InputError: Naming ``where`` (file:line) if the line is not a valid record.
        """
        try:
            data = json.loads(line)
            options = data["options"]
            return cls(
                task=str(data["task"]),
                id=str(data["id"]),
                answer=int(data["answer"]),
                n_options=int(data["n_options"]),
                subject=data.get("subject"),
                options=None if options is None else tuple(_option_from_json(option) for option in options),
                letters=None if data["letters"] is None else tuple(float(v) for v in data["letters"]),
                metadata=_metadata_from_json(data.get("metadata", {})),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(
                f"{where}: not a valid llmcal record ({type(error).__name__}: {error})."
            ) from None


def _metadata_from_json(metadata: Any) -> dict[str, MetadataValue]:
    if not isinstance(metadata, dict) or not all(
        isinstance(value, MetadataValue) for value in metadata.values()
    ):
        raise ValueError(f"metadata must be an object of scalar values; found {metadata!r}")
    return {str(key): value for key, value in metadata.items()}


def _option_from_json(option: dict[str, Any]) -> ContinuationScore:
    return ContinuationScore(tuple(float(value) for value in option["logprobs"]), bool(option["greedy"]))
