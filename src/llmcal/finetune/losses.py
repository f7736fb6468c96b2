"""Fine-tuning losses on per-option log-likelihoods: pure torch functions, registered by name.

Every loss reads a :class:`~llmcal.finetune.loss_inputs.LossInputs` (notation there) and its own config
dataclass (:mod:`llmcal.finetune.loss_settings`, only its hyperparameters) and returns a scalar tensor that
is differentiable with respect to ``option_scores``.

Open-ended items train on their gold answer alone (one "option"), so option-restricted terms mean nothing
there; their batches carry :class:`AnswerTokenTerms`, the full-vocabulary distributions of the answer's
tokens, and the label-smoothing and entropy terms are taken over those instead (token-level, as CogCalib
does for HotpotQA). A loss declares whether it applies to them (``LossPlugin.open_ended``).

Each is registered in :data:`~llmcal.finetune.loss_registry.LOSSES` (torch-free; this module re-exports it
and the names of the loss modules, so ``from llmcal.finetune.losses import ...`` reaches all of them) as a
:class:`LossPlugin` naming its function here lazily. Registered (definitions in ``docs/papers.md``,
"Fine-tuning losses"):

- ``sft`` and ``cft``: ``mean_i NLL_i`` (``cft`` is the same objective applied to an aligned model,
  Xiao et al., ICML 2025; a separate name so runs are labelled);
- ``ls``: label smoothing restricted to the options, on every example;
- ``cogcalib-ls``, ``cogcalib-mbls``, ``cogcalib-ecp``: ``mean_i [NLL_i + 1[known_i] alpha L_cal_i]``
  (Wang et al., ACL 2025, arXiv 2505.20903) with a label-smoothing, margin-based label-smoothing or
  entropy-penalty ``L_cal``;
- ``rcft``: ``(1 - a) mean_i NLL_i + a 1e-3 L_cal`` with the EM bin-wise calibration loss of Xiao et al.
  (arXiv 2505.01997; ``docs/papers.md``, "Paper 2: CFT and RCFT"), in :mod:`llmcal.finetune.rcft`.

Examples:
    >>> scores = torch.tensor([[-1.0, -2.0], [-3.0, -0.5]])
    >>> inputs = LossInputs(scores, torch.tensor([0, 1]))
    >>> round(float(LOSSES.get("sft")(inputs, NoHyperparameters())), 4)
    0.75
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from llmcal.finetune.loss_inputs import (
    AnswerTokenTerms,
    LossInputs,
    gold_nll,
    option_log_probs,
    working_dtype,
)
from llmcal.finetune.loss_registry import (
    LOSSES,
    EpochData,
    EpochUpdate,
    LossPlugin,
    check_open_ended,
)
from llmcal.finetune.loss_settings import (
    RCFT_CALIBRATION_SCALE,
    CogCalibConfig,
    LabelSmoothingConfig,
    MarginCogCalibConfig,
    NoHyperparameters,
    RcftConfig,
)
from llmcal.finetune.rcft import (
    BinStatistics,
    bin_statistics,
    expected_bins,
    rcft_calibration_loss,
    rcft_e_step,
    rcft_loss,
    rcft_targets,
)

__all__ = [
    "LOSSES",
    "RCFT_CALIBRATION_SCALE",
    "AnswerTokenTerms",
    "BinStatistics",
    "CogCalibConfig",
    "EpochData",
    "EpochUpdate",
    "LabelSmoothingConfig",
    "LossInputs",
    "LossPlugin",
    "MarginCogCalibConfig",
    "NoHyperparameters",
    "RcftConfig",
    "bin_statistics",
    "cft_loss",
    "check_open_ended",
    "cogcalib_ecp_loss",
    "cogcalib_ls_loss",
    "cogcalib_mbls_loss",
    "expected_bins",
    "gold_nll",
    "label_smoothing_loss",
    "option_log_probs",
    "rcft_calibration_loss",
    "rcft_e_step",
    "rcft_loss",
    "rcft_targets",
    "sft_loss",
]


def _masked_log_q(inputs: LossInputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(log q with 0 at padded options, mask, K_i)``: the pieces every option-restricted term needs.

    Padded entries of ``log q`` are ``-inf``; they are replaced by 0 (with ``where``, so no NaN gradient)
    before anything sums or multiplies them.
    """
    mask = inputs.mask
    log_q = option_log_probs(inputs.scores(), mask)
    log_q = torch.where(mask, log_q, 0.0)
    return log_q, mask, mask.sum(dim=1).to(log_q.dtype)


def _uniform_cross_entropy(inputs: LossInputs) -> torch.Tensor:
    """``(B,)`` cross-entropy of ``q_i`` against the uniform distribution: ``-(1/K_i) sum_k log q_ik``.

    For open-ended examples, the same of each answer token's full-vocabulary distribution, summed over
    the answer's tokens.
    """
    if inputs.answer_tokens is not None:
        return inputs.answer_tokens.uniform_cross_entropy.to(working_dtype(inputs.option_scores.dtype))
    log_q, _, n_options = _masked_log_q(inputs)
    return -log_q.sum(dim=1) / n_options


def sft_loss(inputs: LossInputs, config: NoHyperparameters) -> torch.Tensor:
    """Supervised fine-tuning: cross-entropy on the answer only, over the full vocabulary.

    ``L = (1/B) sum_i NLL_i = -(1/B) sum_i s_{i,y_i}``.

    Args:
        inputs: The batch.
        config: Unused; present so every loss has the same signature.

    Returns:
        The scalar mean gold NLL.
    """
    del config
    return gold_nll(inputs).mean()


def cft_loss(inputs: LossInputs, config: NoHyperparameters) -> torch.Tensor:
    """Calibration-aware fine-tuning (Xiao et al., ICML 2025, arXiv 2505.01997): the SFT loss.

    CFT is plain answer-only SFT applied to an aligned model on domain data (the ``alpha = 0`` case of the
    authors' trainer), so the value equals :func:`sft_loss`; the separate name only labels the run.
    """
    return sft_loss(inputs, config)


def label_smoothing_loss(inputs: LossInputs, config: LabelSmoothingConfig) -> torch.Tensor:
    """Label smoothing restricted to the options (Szegedy et al., CVPR 2016), on every example.

    ``L = (1/B) sum_i [(1 - eps) NLL_i + eps (-(1/K_i) sum_k log q_ik)]`` with ``eps = config.smoothing``.

    The hard part uses the full-vocabulary NLL; the smoothing part uses the option-restricted ``q``,
    because spreading mass uniformly over a whole vocabulary barely changes the answer distribution.
    """
    eps = config.smoothing
    return ((1.0 - eps) * gold_nll(inputs) + eps * _uniform_cross_entropy(inputs)).mean()


def _cogcalib(
    inputs: LossInputs, alpha: float, calibration: Callable[[LossInputs], torch.Tensor]
) -> torch.Tensor:
    """``(1/B) sum_i [NLL_i + 1[known_i] alpha L_cal_i]``; ``L_cal`` is skipped when ``known`` is None."""
    nll = gold_nll(inputs)
    if inputs.known is None:
        return nll.mean()
    term = calibration(inputs)
    # `where`, not multiplication by the indicator: unknown rows get exactly NLL_i, so with no known
    # example the loss equals SFT bit for bit.
    penalty = torch.where(inputs.known, alpha * term, 0.0)
    return (nll + penalty).mean()


def _ls_term(inputs: LossInputs) -> torch.Tensor:
    if inputs.answer_tokens is not None:
        # Token-level label smoothing: NLL + alpha (uniform CE - NLL) = sum_j [(1 - alpha) CE_j + alpha U_j].
        return _uniform_cross_entropy(inputs) - gold_nll(inputs)
    log_q, _, n_options = _masked_log_q(inputs)
    gold = log_q.gather(1, inputs.labels.long().unsqueeze(1)).squeeze(1)
    return -log_q.sum(dim=1) / n_options + gold


def cogcalib_ls_loss(inputs: LossInputs, config: CogCalibConfig) -> torch.Tensor:
    """CogCalib with label smoothing on known examples (CoLS; Wang et al., ACL 2025, arXiv 2505.20903).

    ``L = (1/B) sum_i [NLL_i + 1[known_i] alpha L_cal_i]`` with
    ``L_cal_i = -(1/K_i) sum_k log q_ik - (-log q_{i,y_i})``.

    With the restricted NLL in place of ``NLL_i``, ``NLL + alpha L_cal`` is exactly label smoothing with
    ``eps = alpha``, so ``alpha`` reads as the smoothing applied to known examples. Unknown examples (and
    every example when ``known`` is None) get plain SFT.
    """
    return _cogcalib(inputs, config.alpha, _ls_term)


def _options_only(inputs: LossInputs, loss: str) -> None:
    if inputs.answer_tokens is not None:
        check_open_ended(loss)


def _mbls_term(margin: float) -> Callable[[LossInputs], torch.Tensor]:
    def term(inputs: LossInputs) -> torch.Tensor:
        _options_only(inputs, "cogcalib-mbls")
        scores, mask = inputs.scores(), inputs.mask
        top = scores.masked_fill(~mask, float("-inf")).max(dim=1, keepdim=True).values
        hinge = (top - scores - margin).clamp_min(0.0)
        hinge = torch.where(mask, hinge, 0.0)
        return hinge.sum(dim=1) / mask.sum(dim=1).to(hinge.dtype)

    return term


def cogcalib_mbls_loss(inputs: LossInputs, config: MarginCogCalibConfig) -> torch.Tensor:
    """CogCalib with margin-based label smoothing on known examples (CoMbLS).

    ``L_cal_i = (1/K_i) sum_k max(0, max_j s_ij - s_ik - m)`` over existing options, on the option
    scores ``s`` (the logits of the restricted softmax), with ``m = config.margin``. Liu et al., "The
    Devil is in the Margins: Margin-based Label Smoothing for Network Calibration", CVPR 2022; their
    default is ``m = 10``. The hinge is zero (and has zero gradient) while every logit gap is below ``m``.
    """
    return _cogcalib(inputs, config.alpha, _mbls_term(config.margin))


def _negative_entropy(inputs: LossInputs) -> torch.Tensor:
    if inputs.answer_tokens is not None:
        return inputs.answer_tokens.negative_entropy.to(working_dtype(inputs.option_scores.dtype))
    log_q, _, _ = _masked_log_q(inputs)
    # exp(0) at padded slots would be 1, so q is re-masked; log q is already 0 there, so 0 * 0 is safe.
    q = torch.where(inputs.mask, log_q.exp(), 0.0)
    return (q * log_q).sum(dim=1)


def cogcalib_ecp_loss(inputs: LossInputs, config: CogCalibConfig) -> torch.Tensor:
    """CogCalib with the entropy confidence penalty on known examples (CoECP).

    ``L_cal_i = -H(q_i) = sum_k q_ik log q_ik``: Pereyra et al., "Regularizing Neural Networks by
    Penalizing Confident Output Distributions", ICLR workshop 2017. The sum runs over the options (the
    ``by-liu/MbLS`` code averages over them instead, which only rescales ``alpha`` by ``1/K``).
    """
    return _cogcalib(inputs, config.alpha, _negative_entropy)
