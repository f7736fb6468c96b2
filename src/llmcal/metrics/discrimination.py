"""How well confidence separates right from wrong answers, independent of calibration."""

from __future__ import annotations

import warnings

from numpy.typing import ArrayLike
from scipy.stats import rankdata

from llmcal.errors import CalibrationWarning
from llmcal.metrics.validation import as_confidences, as_correct

__all__ = ["auroc"]


def auroc(confidences: ArrayLike, correct: ArrayLike) -> float:
    """Area under the ROC curve of confidence as a predictor of correctness.

    Computed exactly from ranks (the Mann-Whitney U statistic); tied confidences count one half.
    1.0 means every right answer is more confident than every wrong one, 0.5 means no separation.

    Args:
        confidences: Confidence in the predicted option, shape ``(n,)``, in [0, 1].
        correct: 1 where the prediction was right, shape ``(n,)``.

    Returns:
        The AUROC, or NaN (with a :class:`~llmcal.errors.CalibrationWarning`) when every answer is right
        or every answer is wrong, since the ROC curve is then undefined.

    Raises:
        InputError: On malformed inputs.

    Examples:
        >>> auroc([0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0])
        1.0
    """
    c = as_confidences(confidences)
    y = as_correct(correct, len(c))
    n_right = float(y.sum())
    n_wrong = len(y) - n_right
    if n_right == 0 or n_wrong == 0:
        warnings.warn(
            f"AUROC is undefined when all {len(y)} answers are {'right' if n_wrong == 0 else 'wrong'}; "
            "returning NaN.",
            CalibrationWarning,
            stacklevel=2,
        )
        return float("nan")
    ranks = rankdata(c)  # average ranks, so ties contribute 1/2
    u_statistic = float(ranks[y == 1.0].sum()) - n_right * (n_right + 1) / 2
    return u_statistic / (n_right * n_wrong)
