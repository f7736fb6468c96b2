"""The JSON that ``llmcal metrics FILE --json`` prints and ``--out`` writes: the metrics of saved predictions.

One summary of every metric over all items (as :meth:`llmcal.metrics.summary.Summary.to_dict` gives it)
and, with ``--by FIELD``, a ``strata`` entry: per stratum its label, bounds, mean confidence and the same
summary, like the strata of an evaluation's ``results.json``. Indented by two spaces; NaN never appears
(summaries write an undefined value as ``null``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcal.atomic import write_text_atomic
from llmcal.metrics.strata import Strata, StrataKind, Stratum
from llmcal.metrics.summary import Summary
from llmcal.runs.evaluation import Stratification

__all__ = ["PredictionMetrics", "StratifiedMetrics", "StratumMetrics", "write_prediction_metrics"]


@dataclass(frozen=True)
class StratumMetrics:
    """One stratum of the predictions and its metrics.

    Attributes:
        stratum: Its label and, for a numeric field, its smallest and largest value.
        mean_confidence: The mean confidence in the predicted option over the stratum's items.
        summary: Every metric over the stratum's items.
    """

    stratum: Stratum
    mean_confidence: float
    summary: Summary

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: label, bounds (numeric fields only), mean confidence, then the summary."""
        stratum = self.stratum
        bounds = {} if stratum.lower is None else {"lower": stratum.lower, "upper": stratum.upper}
        return {
            "label": stratum.label,
            **bounds,
            "mean_confidence": self.mean_confidence,
            **self.summary.to_dict(),
        }


@dataclass(frozen=True)
class StratifiedMetrics:
    """The metrics per stratum of one field of the predictions.

    Attributes:
        stratification: The field and the most strata asked for.
        kind: ``"quantile"`` (a numeric field) or ``"categorical"`` (one stratum per value).
        groups: The strata in increasing order of value.
    """

    stratification: Stratification
    kind: StrataKind
    groups: tuple[StratumMetrics, ...]

    @classmethod
    def of(
        cls,
        stratification: Stratification,
        strata: Strata,
        summaries: Sequence[Summary],
        means: Sequence[float],
    ) -> StratifiedMetrics:
        """The strata with each one's summary and mean confidence (all three in the strata's order)."""
        groups = tuple(
            StratumMetrics(stratum, mean, summary)
            for stratum, summary, mean in zip(strata.strata, summaries, means, strict=True)
        )
        return cls(stratification, strata.kind, groups)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``by``, ``n_strata``, ``kind`` and the groups."""
        return {**self.stratification.record(self.kind), "groups": [group.to_dict() for group in self.groups]}


@dataclass(frozen=True)
class PredictionMetrics:
    """What ``llmcal metrics`` found in a file of predictions.

    Attributes:
        summary: Every metric over all items.
        strata: The same per stratum of a field, when asked for.
    """

    summary: Summary
    strata: StratifiedMetrics | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the summary's entries, then ``strata`` when present."""
        data = self.summary.to_dict()
        if self.strata is not None:
            data["strata"] = self.strata.to_dict()
        return data

    def to_json(self) -> str:
        """The JSON text, as printed by ``--json`` (no trailing newline)."""
        return json.dumps(self.to_dict(), indent=2)


def write_prediction_metrics(path: Path, metrics: PredictionMetrics) -> None:
    """Writes :meth:`PredictionMetrics.to_json` and a newline to ``path`` atomically."""
    write_text_atomic(path, metrics.to_json() + "\n")
