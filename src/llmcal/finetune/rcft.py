"""RCFT's bin-wise calibration loss and its E-step (Xiao et al., ICML 2025, arXiv 2505.01997).

``rcft``: ``(1 - a) mean_i NLL_i + a c L_cal`` with the EM bin-wise calibration loss ``L_cal``: the E-step
(:func:`rcft_e_step`, the plug-in's epoch hook) bins the training set by the model's max option probability
and records each bin's accuracy and count; the M-step loss (:func:`rcft_calibration_loss`) pulls each
example's max probability toward its bin's accuracy and the other options toward the targets of
:func:`rcft_targets`. Definitions in ``docs/papers.md``, "Paper 2: CFT and RCFT"; notation in
:mod:`llmcal.finetune.loss_inputs`.

Examples:
    >>> scores = torch.log(torch.tensor([[0.95, 0.05], [0.6, 0.4], [0.3, 0.7]]))
    >>> stats = bin_statistics(scores, torch.tensor([0, 1, 1]), expected_bins(2))
    >>> stats.count.tolist()
    [0, 3]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llmcal.errors import InputError
from llmcal.finetune.loss_inputs import LossInputs, gold_nll, option_log_probs, working_dtype
from llmcal.finetune.loss_registry import EpochData, EpochUpdate, check_open_ended
from llmcal.finetune.loss_settings import RcftConfig

__all__ = [
    "BinStatistics",
    "bin_statistics",
    "expected_bins",
    "rcft_calibration_loss",
    "rcft_e_step",
    "rcft_loss",
    "rcft_targets",
]


def _check_edges(edges: torch.Tensor, name: str) -> int:
    """Raises unless ``edges`` is 1-D, finite, non-decreasing, with >= 2 entries; returns the bin count."""
    if edges.dim() != 1 or edges.shape[0] < 2:
        raise InputError(f"{name} must be 1-D with at least 2 entries; got shape {tuple(edges.shape)}.")
    # searchsorted silently returns nonsense on unsorted edges, so this is checked, not assumed.
    if not bool(torch.isfinite(edges).all()) or bool((edges[1:] < edges[:-1]).any()):
        raise InputError(f"{name} must be finite and non-decreasing; got {edges.tolist()}.")
    return int(edges.shape[0]) - 1


@dataclass(frozen=True, eq=False)
class BinStatistics:
    """E-step statistics of RCFT: per confidence bin, the accuracy and the number of examples.

    Bins follow llmcal's right-closed convention (see :func:`bin_statistics`).

    Attributes:
        accuracy: ``(M,)`` fraction of examples in the bin whose argmax option is the gold one; 0 where
            ``count`` is 0 (such bins are skipped by the loss).
        count: ``(M,)`` number of examples in the bin over the whole dataset pass, ``n_k``.
        edges: ``(M + 1,)`` non-decreasing bin edges.

    Raises:
        InputError: If the shapes disagree, the edges are not sorted, accuracies leave [0, 1] or counts are
            negative.
    """

    accuracy: torch.Tensor
    count: torch.Tensor
    edges: torch.Tensor

    def __post_init__(self) -> None:
        n_bins = _check_edges(self.edges, "BinStatistics.edges")
        for name, value in (("accuracy", self.accuracy), ("count", self.count)):
            if value.shape != (n_bins,):
                raise InputError(
                    f"BinStatistics.{name} must have shape ({n_bins},) for {n_bins + 1} edges; "
                    f"got {tuple(value.shape)}."
                )
        accuracy = self.accuracy.double()
        if not bool(((accuracy >= 0) & (accuracy <= 1)).all()):
            raise InputError(f"BinStatistics.accuracy must lie in [0, 1]; got {self.accuracy.tolist()}.")
        if bool((self.count < 0).any()):
            raise InputError(f"BinStatistics.count must be non-negative; got {self.count.tolist()}.")


def expected_bins(n_bins: int = 10) -> torch.Tensor:
    """Equal-width confidence bin edges ``linspace(0, 1, n_bins + 1)`` (float64), RCFT's 10 by default.

    Raises:
        InputError: If ``n_bins`` is not a positive integer.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise InputError(f"n_bins must be a positive integer; got {n_bins!r}.")
    return torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)


def _assign_bins(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    # searchsorted(right=False) returns b with e_{b-1} < v <= e_b, so bin b - 1 holds (e_{b-1}, e_b]:
    # llmcal's right-closed convention (metrics/binning.py); v <= e_0 lands in bin 0 after clamping and
    # v > e_M in the last bin.
    index = torch.searchsorted(edges.contiguous(), values.contiguous(), right=False) - 1
    return index.clamp(0, edges.shape[0] - 2)


def _restricted_probs(inputs: LossInputs) -> torch.Tensor:
    """``q`` in float64 (as the RCFT authors compute it), exactly 0 at padded options."""
    log_q = option_log_probs(inputs.scores(torch.float64), inputs.mask)
    return log_q.exp()


def bin_statistics(
    option_scores: torch.Tensor,
    labels: torch.Tensor,
    edges: torch.Tensor,
    option_mask: torch.Tensor | None = None,
) -> BinStatistics:
    """RCFT E-step: bin a dataset pass by max option probability; per-bin accuracy and count.

    With ``q = softmax(s)`` over the existing options, example ``i`` goes to the bin of
    ``p_max,i = max_k q_ik``; ``acc_b = (1/n_b) sum_{i in b} 1[argmax_k q_ik = y_i]``.

    Bins are right-closed as everywhere in llmcal: bin ``b`` holds ``(e_b, e_{b+1}]`` and ``p_max = e_0``
    goes to the first bin. The authors' code bins left-closed, ``[k/10, (k+1)/10)``; the two differ only
    for probabilities exactly on an inner edge. Ties for the argmax go to the lowest option index.

    Args:
        option_scores: ``(N, K)`` option scores over the whole pass (concatenate the batches).
        labels: ``(N,)`` gold option indices.
        edges: ``(M + 1,)`` non-decreasing bin edges, e.g. :func:`expected_bins`.
        option_mask: ``(N, K)`` bool, which options exist, or ``None`` for all.

    Returns:
        Float64 ``accuracy`` (0 for empty bins), int64 ``count`` and float64 ``edges``, on the device of
        ``option_scores``.

    Raises:
        InputError: On the same input problems as :class:`LossInputs` and :class:`BinStatistics`.

    Examples:
        >>> scores = torch.log(torch.tensor([[0.95, 0.05], [0.6, 0.4], [0.3, 0.7]]))
        >>> stats = bin_statistics(scores, torch.tensor([0, 1, 1]), expected_bins(2))
        >>> stats.count.tolist(), stats.accuracy.tolist()
        ([0, 3], [0.0, 0.6666666666666666])
    """
    inputs = LossInputs(option_scores, labels, None, option_mask)
    edges = edges.to(option_scores.device, torch.float64)
    n_bins = _check_edges(edges, "bin_statistics: edges")
    with torch.no_grad():
        p_max, prediction = _restricted_probs(inputs).max(dim=1)
        index = _assign_bins(p_max, edges)
        correct = (prediction == labels.long()).to(torch.float64)
        count = torch.bincount(index, minlength=n_bins)
        hits = torch.bincount(index, weights=correct, minlength=n_bins)
        accuracy = hits / count.clamp_min(1).to(torch.float64)
    return BinStatistics(accuracy=accuracy, count=count.to(torch.int64), edges=edges)


def _check_target_inputs(
    nonmax_sorted: torch.Tensor, accuracy: torch.Tensor, mask: torch.Tensor | None
) -> None:
    """Refuses the shapes :func:`rcft_targets` cannot use, naming the argument."""
    if nonmax_sorted.dim() != 2:
        raise InputError(
            f"rcft_targets: nonmax_sorted must be 2-D (batch, K-1); got {tuple(nonmax_sorted.shape)}."
        )
    batch = nonmax_sorted.shape[0]
    if accuracy.shape != (batch,):
        raise InputError(f"rcft_targets: accuracy must have shape ({batch},); got {tuple(accuracy.shape)}.")
    if mask is not None and (mask.shape != nonmax_sorted.shape or mask.dtype != torch.bool):
        raise InputError(
            f"rcft_targets: mask must be a bool tensor of shape {tuple(nonmax_sorted.shape)}; "
            f"got {tuple(mask.shape)} {mask.dtype}."
        )


def rcft_targets(
    nonmax_sorted: torch.Tensor, accuracy: torch.Tensor, *, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Targets for the non-max option probabilities of RCFT (Xiao et al., ICML 2025; docs/papers.md).

    For one example whose max probability sits in a bin of accuracy ``acc``, with non-max probabilities
    ``q_1 >= q_2 >= ... >= q_{K-1}``:

    - if ``acc = 1``, every target is 0;
    - else ``gamma = ln(K-1) / q_1 * 1 / (1 - acc)``, ``T = sum_j tanh(gamma q_j)``,
      ``alpha = beta = (1 - acc) / (T + (K - 1))`` and ``target_j = alpha tanh(gamma q_j) + beta``.

    The targets sum to ``1 - acc`` (with the max's target ``acc`` the vector sums to 1) and, ``tanh`` being
    increasing, keep the model's ranking of the non-max options. With ``K = 4`` this is the authors'
    ``ln(3)`` and ``+3``; with ``K = 2`` the single target is ``1 - acc``.

    Decisions where the paper is silent: ``q_1`` is taken as the row maximum, so unsorted input gives the
    same targets; when every non-max probability underflows to 0 they are treated as tied
    (``gamma q_j = ln(K-1) / (1 - acc)``, the limit for equal ``q_j``), which keeps the targets finite.

    Args:
        nonmax_sorted: ``(B, K-1)`` non-max probabilities, sorted in descending order per row.
        accuracy: ``(B,)`` bin accuracy ``acc`` of each row's max probability, in [0, 1].
        mask: ``(B, K-1)`` bool, which entries exist when rows have different option counts (``K_i - 1``
            is the number of True entries; padded entries get target 0), or ``None`` for all.

    Returns:
        ``(B, K-1)`` float64 targets, differentiable with respect to ``nonmax_sorted`` (pass
        ``nonmax_sorted.detach()`` for constant targets).

    Raises:
        InputError: On mismatched shapes or an accuracy outside [0, 1].

    Examples:
        >>> rcft_targets(torch.tensor([[0.2, 0.1, 0.0]]), torch.tensor([0.5])).sum().item()
        0.5
    """
    _check_target_inputs(nonmax_sorted, accuracy, mask)
    q = nonmax_sorted.to(torch.float64)
    acc = accuracy.detach().to(q)  # q's device and float64
    if not bool(((acc >= 0) & (acc <= 1)).all()):
        raise InputError(f"rcft_targets: accuracy must lie in [0, 1]; got {acc.tolist()}.")
    valid = torch.ones_like(q, dtype=torch.bool) if mask is None else mask.to(q.device)
    q = torch.where(valid, q, 0.0)
    n_nonmax = valid.sum(dim=1, keepdim=True).to(q.dtype)
    if q.shape[1] == 0:  # K = 1 everywhere: no non-max option, nothing to target
        return q
    q_1 = q.max(dim=1, keepdim=True).values
    # gamma q_j written as ln(K-1)/(1-acc) * (q_j / q_1) so the q_1 = 0 case is a tie rather than 0/0.
    # Every `where` keeps its unused branch finite, so no NaN reaches the gradient.
    ratio = torch.where(q_1 > 0, q / torch.where(q_1 > 0, q_1, 1.0), torch.ones_like(q))
    slack = (1.0 - acc).unsqueeze(1)
    scale = torch.log(n_nonmax.clamp_min(1.0)) / torch.where(slack > 0, slack, 1.0)
    shaped = torch.where(valid, torch.tanh(scale * ratio), 0.0)
    weight = slack / (shaped.sum(dim=1, keepdim=True) + n_nonmax.clamp_min(1.0))
    targets = weight * (shaped + 1.0)
    return torch.where(valid & (slack > 0), targets, 0.0)


def rcft_calibration_loss(
    inputs: LossInputs, bins: BinStatistics, *, include_top_bin: bool = True, target_gradient: bool = False
) -> torch.Tensor:
    """RCFT's EM bin-wise calibration loss ``L_cal`` (M-step; Xiao et al., arXiv 2505.01997; docs/papers.md).

    Each example goes to the bin ``k`` of its max probability ``p_max,i`` (right-closed bins, as in
    :func:`bin_statistics`; the authors' code uses left-closed ``[k/10, (k+1)/10)``). Then

    ``L_cal = sum_k [ sum_{i in batch, bin k} ((p_max,i - acc_k)^2 + sum_j (q_j,i - target_j,i)^2) ] / n_k``

    with ``acc_k``, ``n_k`` the dataset-level E-step statistics and the non-max targets from
    :func:`rcft_targets`: constants by default, differentiable with ``target_gradient`` (as in the
    authors' code). It is a sum over bins, not a batch mean, exactly as in the authors' code. Bins with
    ``n_k = 0`` are skipped; so is the top bin when ``include_top_bin`` is False, which reproduces the
    authors' loop over bins ``0..M-2``. Computed in float64 like the authors' code; the result has the
    working dtype of the scores.
    """
    working = working_dtype(inputs.option_scores.dtype)
    q = _restricted_probs(inputs)
    mask = inputs.mask
    # Padded options sort below every real probability (even one that underflowed to 0) and are masked out.
    ordered = torch.sort(torch.where(mask, q, -1.0), dim=1, descending=True)
    p_max, nonmax = ordered.values[:, 0], ordered.values[:, 1:]
    n_options = mask.sum(dim=1, keepdim=True)
    nonmax_valid = torch.arange(nonmax.shape[1], device=q.device).unsqueeze(0) < n_options - 1

    # In float64 on q's device (q is float64, _restricted_probs).
    edges, accuracy, count = bins.edges.to(q), bins.accuracy.to(q), bins.count.to(q)
    with torch.no_grad():
        index = _assign_bins(p_max.detach(), edges)
        acc = accuracy[index]
        n_k = count[index]
        used = n_k > 0
        if not include_top_bin:
            used &= index != edges.shape[0] - 2
        weight = torch.where(used, 1.0 / n_k.clamp_min(1.0), 0.0)
    targets = rcft_targets(nonmax if target_gradient else nonmax.detach(), acc, mask=nonmax_valid)

    nonmax_error = torch.where(nonmax_valid, (nonmax - targets) ** 2, 0.0).sum(dim=1)
    per_example = (p_max - acc) ** 2 + nonmax_error
    return (weight * per_example).sum().to(working)


def rcft_loss(inputs: LossInputs, config: RcftConfig, bins: BinStatistics | None) -> torch.Tensor:
    """Regularised calibration-aware fine-tuning (RCFT; Xiao et al., ICML 2025, arXiv 2505.01997).

    ``L = (1 - a) (1/B) sum_i NLL_i + a c L_cal`` with ``a = config.rcft_alpha``, ``c = config.rcft_scale``
    (the authors' 1e-3 by default) and ``L_cal`` from :func:`rcft_calibration_loss` on ``bins``, the
    E-step statistics (:func:`rcft_e_step`, which the trainer runs when every epoch begins). The top bin is
    included unless ``config.rcft_include_top_bin`` is False; the targets carry gradient when
    ``config.rcft_target_gradient`` is True.

    Raises:
        InputError: If ``bins`` is None.
    """
    if inputs.answer_tokens is not None:
        check_open_ended("rcft")
    if bins is None:
        raise InputError(
            "the rcft loss needs the E-step's BinStatistics as its epoch state; got None. Run the E-step "
            "with rcft_e_step(...) or bin_statistics(...) and pass its bins as epoch_state."
        )
    a = config.rcft_alpha
    calibration = rcft_calibration_loss(
        inputs,
        bins,
        include_top_bin=config.rcft_include_top_bin,
        target_gradient=config.rcft_target_gradient,
    )
    return (1.0 - a) * gold_nll(inputs).mean() + a * config.rcft_scale * calibration


def rcft_e_step(data: EpochData, config: RcftConfig) -> EpochUpdate:
    """RCFT's E-step as an epoch hook: :func:`bin_statistics` of the training set in 10 equal-width bins.

    Args:
        data: Gives the training set's option scores under the current model.
        config: Unused; the E-step has no hyperparameters of its own.

    Returns:
        The bins as epoch state, recorded as ``bin_accuracy`` and ``bin_count``.
    """
    del config
    scores, labels = data.training_scores()
    bins = bin_statistics(scores, labels, expected_bins(10), option_mask=torch.isfinite(scores))
    return EpochUpdate(bins, {"bin_accuracy": bins.accuracy.tolist(), "bin_count": bins.count.tolist()})
