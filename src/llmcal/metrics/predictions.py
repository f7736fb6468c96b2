"""Per-item predictions: what a summary of every metric consumes.

Either per-option probabilities with the gold option (every metric applies), or only the confidence in
the predicted answer and whether it was right (the top-label metrics apply). Items may have different
numbers of options (ARC has 3 to 5): shorter rows are padded with probability 0 and
:attr:`Predictions.option_mask` says which options exist, so the class-wise metrics (SCE, ACE) measure
each option over the items that have it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from llmcal.errors import InputError
from llmcal.metrics.calibration_error import top_label_confidence

__all__ = ["Predictions"]


@dataclass(frozen=True)
class Predictions:
    """Per-item predictions, aligned by index.

    Attributes:
        confidences: Confidence in the predicted option, shape ``(n,)``.
        correct: 1.0 where the prediction was right, shape ``(n,)``.
        probs: Per-option probabilities, shape ``(n, K)`` (zero-padded when K varies), or ``None`` for
            top-label-only input.
        labels: Gold option per item, shape ``(n,)``, or ``None`` for top-label-only input.
        source: Where the predictions came from (a path), for messages and reports.
        option_mask: Which options exist, shape ``(n, K)``; ``None`` when every item has all ``K`` (or
            for top-label-only input).
    """

    confidences: NDArray[np.float64]
    correct: NDArray[np.float64]
    probs: NDArray[np.float64] | None
    labels: NDArray[np.intp] | None
    source: str
    option_mask: NDArray[np.bool_] | None = None

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.confidences)

    @property
    def n_options(self) -> int | None:
        """Largest number of options per item, or ``None`` for top-label-only input."""
        return None if self.probs is None else int(self.probs.shape[1])

    @property
    def mean_confidence(self) -> float:
        """Mean confidence in the predicted option (NaN with no items)."""
        return float(self.confidences.mean()) if self.n_items else float("nan")

    def subset(self, rows: NDArray[np.bool_], source: str | None = None) -> Predictions:
        """The items selected by a boolean row mask, labelled ``source`` (by default this ``source``).

        The option columns stay as they are (``n_options`` does not shrink); the mask is dropped when
        every selected item has every option, as :meth:`from_probabilities` does.

        Raises:
            InputError: If ``rows`` is not a boolean mask of one entry per item.
        """
        mask_rows = np.asarray(rows)
        if mask_rows.dtype != np.bool_ or mask_rows.shape != (self.n_items,):
            raise InputError(
                f"`rows` must be a boolean mask of shape ({self.n_items},); got {mask_rows.dtype} "
                f"of shape {mask_rows.shape}."
            )
        option_mask = None if self.option_mask is None else self.option_mask[mask_rows]
        return Predictions(
            self.confidences[mask_rows],
            self.correct[mask_rows],
            None if self.probs is None else self.probs[mask_rows],
            None if self.labels is None else self.labels[mask_rows],
            self.source if source is None else source,
            None if option_mask is None or option_mask.all() else option_mask,
        )

    @classmethod
    def from_probabilities(
        cls,
        probs: NDArray[np.float64],
        labels: NDArray[np.intp],
        source: str,
        option_mask: NDArray[np.bool_] | None = None,
    ) -> Predictions:
        """Predictions of option probabilities: the top-label pair is derived, an all-true mask dropped."""
        confidences, correct = top_label_confidence(probs, labels)
        mask = None if option_mask is None or option_mask.all() else option_mask
        return cls(confidences, correct, probs, labels, source, mask)
