"""Every scalar metric by name, with what it consumes: the single list the CLI and reports iterate over."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from numpy.typing import ArrayLike

from llmcal.metrics.accuracy import accuracy
from llmcal.metrics.calibration_error import ace, ece, mce, rms_ce, sce
from llmcal.metrics.discrimination import auroc
from llmcal.metrics.scoring_rules import brier, nll, top_label_brier
from llmcal.metrics.selective import (
    SELECTIVE_COVERAGES,
    auarc,
    aurc,
    eaurc,
    prr,
    selective_accuracy,
    selective_accuracy_name,
)
from llmcal.metrics.smooth_calibration import smooth_ece
from llmcal.metrics.validation import BinStrategy
from llmcal.registry import Registry

__all__ = ["METRICS", "MetricSpec"]

MetricInput = Literal["top_label", "probabilities"]


@dataclass(frozen=True)
class MetricSpec:
    """How to call one metric.

    Attributes:
        function: The metric; called as ``function(confidences, correct, **kw)`` for ``top_label``
            metrics and ``function(probs, labels, **kw)`` for ``probabilities`` metrics.
        inputs: Which pair of arrays it takes.
        binned: Whether it accepts ``n_bins`` (and, for top-label metrics, ``strategy``).
        higher_is_better: False for errors and losses, True for accuracy and AUROC.
        summary: One line for tables and ``--help``.
        fixed_strategy: The binning strategy a class-wise binned metric always uses (SCE equal-width, ACE
            equal-mass); ``None`` where the caller's strategy applies.
        bounds: The range of the metric's values, ``(low, high)``; bootstrap intervals are clipped to it
            (:mod:`llmcal.metrics.bootstrap`). ``[0, 1]`` unless stated.
    """

    function: Callable[..., float]
    inputs: MetricInput
    binned: bool
    higher_is_better: bool
    summary: str
    fixed_strategy: BinStrategy | None = None
    bounds: tuple[float, float] = (0.0, 1.0)


# Order is presentation order: accuracy first, then the calibration errors, scoring rules, AUROC and the
# selective-prediction metrics.
METRICS: Registry[MetricSpec] = Registry("metric")
"""Every metric by name: the one list summaries, bootstraps, tables and the CLI iterate over.

Entries are direct, since metrics are numpy functions. A new metric is a module with its function and
one line here, ``METRICS.add(name, MetricSpec(...))``; code outside llmcal adds it the same way, or with
``METRICS.add_lazy(name, "package.module:SPEC")`` to import it only when it is computed. A metric
without a count kernel (:mod:`llmcal.metrics.count_bootstrap`) is bootstrapped on resampled rows.
"""
METRICS.add("accuracy", MetricSpec(accuracy, "top_label", False, True, "fraction of items answered right"))
METRICS.add("ece", MetricSpec(ece, "top_label", True, False, "expected calibration error"))
METRICS.add("mce", MetricSpec(mce, "top_label", True, False, "worst bin's |accuracy - confidence|"))
METRICS.add("rms_ce", MetricSpec(rms_ce, "top_label", True, False, "root-mean-square calibration error"))
METRICS.add("smooth_ece", MetricSpec(smooth_ece, "top_label", False, False, "kernel-smoothed ECE, no bins"))
METRICS.add(
    "sce", MetricSpec(sce, "probabilities", True, False, "class-wise ECE over every option", "uniform")
)
METRICS.add(
    "ace", MetricSpec(ace, "probabilities", True, False, "class-wise ECE, equal-mass bins", "quantile")
)
METRICS.add(
    "brier", MetricSpec(brier, "probabilities", False, False, "multi-class Brier score", bounds=(0.0, 2.0))
)
METRICS.add(
    "nll",
    MetricSpec(nll, "probabilities", False, False, "negative log-likelihood of gold", bounds=(0.0, math.inf)),
)
METRICS.add("auroc", MetricSpec(auroc, "top_label", False, True, "does confidence rank right > wrong"))
METRICS.add(
    "top_brier", MetricSpec(top_label_brier, "top_label", False, False, "Brier score of the top confidence")
)
METRICS.add("aurc", MetricSpec(aurc, "top_label", False, False, "area under the risk-coverage curve"))
METRICS.add("eaurc", MetricSpec(eaurc, "top_label", False, False, "AURC above the best ordering's"))
METRICS.add("auarc", MetricSpec(auarc, "top_label", False, True, "area under accuracy-rejection, 1 - AURC"))
METRICS.add(
    "prr",
    MetricSpec(prr, "top_label", False, True, "rejection gain: 0 random, 1 oracle", bounds=(-math.inf, 1.0)),
)


def _selective_accuracy_at(coverage: float) -> Callable[..., float]:
    def at_coverage(confidences: ArrayLike, correct: ArrayLike) -> float:
        return selective_accuracy(confidences, correct, coverage)

    at_coverage.__name__ = f"selective_accuracy_{round(coverage * 100)}"
    return at_coverage


for _coverage in SELECTIVE_COVERAGES:
    METRICS.add(
        selective_accuracy_name(_coverage),
        MetricSpec(
            _selective_accuracy_at(_coverage),
            "top_label",
            False,
            True,
            f"accuracy of the {round(_coverage * 100)}% most confident",
        ),
    )
