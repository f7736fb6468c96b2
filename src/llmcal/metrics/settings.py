"""How metrics are binned and bootstrapped: one settings object for every summary and comparison."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmcal.metrics.catalog import METRICS
from llmcal.metrics.validation import BinStrategy

__all__ = ["MetricSettings"]


@dataclass(frozen=True)
class MetricSettings:
    """Binning and bootstrap settings of a set of metric values.

    Attributes:
        n_bins: Bins of the binned metrics.
        strategy: Binning strategy of the top-label binned metrics (the class-wise ones have their own).
        n_resamples: Bootstrap resamples per interval.
        level: Interval coverage.
        seed: Seed of the bootstrap resamples; one seed pairs the intervals of every metric.
    """

    n_bins: int = 15
    strategy: BinStrategy = "uniform"
    n_resamples: int = 1000
    level: float = 0.95
    seed: int = 0

    def metric_kwargs(self, name: str) -> dict[str, Any]:
        """The keyword arguments metric ``name`` of :data:`~llmcal.metrics.METRICS` is called with.

        Raises:
            InputError: If ``name`` is not a registered metric (with suggestions).

        Examples:
            >>> MetricSettings(n_bins=10).metric_kwargs("ece")
            {'n_bins': 10, 'strategy': 'uniform'}
            >>> MetricSettings(n_bins=10).metric_kwargs("sce")
            {'n_bins': 10}
        """
        spec = METRICS.get(name)
        if not spec.binned:
            return {}
        if spec.inputs == "probabilities":
            return {"n_bins": self.n_bins}
        return {"n_bins": self.n_bins, "strategy": self.strategy}

    def binning(self, name: str) -> dict[str, Any]:
        """How metric ``name`` is binned under these settings: ``n_bins`` and ``strategy``, or ``{}``.

        Written beside binned values in results files, so a reader knows the bins without the settings.

        Examples:
            >>> MetricSettings(n_bins=10, strategy="quantile").binning("sce")
            {'n_bins': 10, 'strategy': 'uniform'}
            >>> MetricSettings().binning("brier")
            {}
        """
        if name not in METRICS or not METRICS.get(name).binned:
            return {}
        return {"n_bins": self.n_bins, "strategy": METRICS.get(name).fixed_strategy or self.strategy}
