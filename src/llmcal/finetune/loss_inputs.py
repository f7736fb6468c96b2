"""One batch of a fine-tuning loss's inputs, and the quantities of it every loss reads.

Notation used throughout the losses, for example ``i`` with gold option ``y_i`` and existing options
``k = 1..K_i`` (padded options are ignored everywhere):

- ``s_ik``: the option score, the sum over the option's tokens of full-vocabulary log-probabilities;
- ``NLL_i = -s_{i,y_i}``: the gold answer's full-vocabulary negative log-likelihood;
- ``q_i = softmax(s_i)``: the model's distribution restricted to the ``K_i`` options.

Open-ended items train on their gold answer alone (one "option"); their batches carry
:class:`AnswerTokenTerms`, the full-vocabulary distributions of the answer's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llmcal.errors import InputError

__all__ = ["AnswerTokenTerms", "LossInputs", "gold_nll", "option_log_probs", "working_dtype"]


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a loss computes in for scores of ``dtype``: float64 stays, anything else is float32."""
    # Half-precision log-softmax loses the small differences between close options, so bf16/fp16 scores
    # are promoted; a caller who already pays for float64 keeps it.
    return torch.float64 if dtype == torch.float64 else torch.float32


@dataclass(frozen=True, eq=False)
class AnswerTokenTerms:
    """Full-vocabulary terms of each example's gold-answer tokens, summed over those tokens.

    With ``p_j`` the model's next-token distribution (over the ``V`` vocabulary entries) at answer token
    ``j`` of an example:

    Attributes:
        uniform_cross_entropy: ``(B,)`` ``sum_j -(1/V) sum_v log p_jv``: cross-entropy against the uniform
            distribution, the label-smoothing term.
        negative_entropy: ``(B,)`` ``sum_j sum_v p_jv log p_jv``: minus the entropy, the confidence
            penalty's term.
    """

    uniform_cross_entropy: torch.Tensor
    negative_entropy: torch.Tensor


@dataclass(frozen=True, eq=False)
class LossInputs:
    """One batch of model outputs and targets; validated on construction.

    Attributes:
        option_scores: ``(B, K)`` float, log-likelihood of each option's continuation under the model (sum
            over its tokens of full-vocabulary log-probs). Values at padded options are ignored (they may
            be ``-inf``); values at existing options must be finite.
        labels: ``(B,)`` integer, the gold option index; must point at an existing option.
        known: ``(B,)`` bool, the prior-knowledge indicator ``1[NLL_i <= t]`` of CogCalib, or ``None``
            meaning "every example unknown". Only losses whose plug-in declares
            ``needs_known_flags`` (the ``cogcalib-*`` ones) read it.
        option_mask: ``(B, K)`` bool, which options exist (ragged option counts), or ``None`` for all.
        answer_tokens: Open-ended examples (``K = 1``, the gold answer): the full-vocabulary terms of the
            answer's tokens, which the label-smoothing and entropy terms use instead of the options.

    Raises:
        InputError: On a shape, dtype or range problem; the message names the field.
    """

    option_scores: torch.Tensor
    labels: torch.Tensor
    known: torch.Tensor | None = None
    option_mask: torch.Tensor | None = None
    answer_tokens: AnswerTokenTerms | None = None

    def __post_init__(self) -> None:
        scores, labels = self.option_scores, self.labels
        if scores.dim() != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
            raise InputError(
                f"LossInputs.option_scores must have shape (batch, options) with both > 0; "
                f"got shape {tuple(scores.shape)}."
            )
        if not scores.is_floating_point():
            raise InputError(f"LossInputs.option_scores must be a float tensor; got dtype {scores.dtype}.")
        batch, n_options = scores.shape
        if labels.shape != (batch,):
            raise InputError(
                f"LossInputs.labels must have shape ({batch},) to match option_scores; "
                f"got shape {tuple(labels.shape)}."
            )
        if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
            raise InputError(f"LossInputs.labels must be an integer tensor; got dtype {labels.dtype}.")
        if bool(((labels < 0) | (labels >= n_options)).any()):
            raise InputError(
                f"LossInputs.labels must lie in [0, {n_options}); got values from "
                f"{int(labels.min())} to {int(labels.max())}."
            )
        known = self.known
        if known is not None and (known.shape != (batch,) or known.dtype != torch.bool):
            raise InputError(
                f"LossInputs.known must be a bool tensor of shape ({batch},) or None; got "
                f"shape {tuple(known.shape)} and dtype {known.dtype} (use `.bool()`)."
            )
        mask = self.option_mask
        if mask is not None:
            if mask.shape != scores.shape or mask.dtype != torch.bool:
                raise InputError(
                    f"LossInputs.option_mask must be a bool tensor of shape {tuple(scores.shape)} or None; "
                    f"got shape {tuple(mask.shape)} and dtype {mask.dtype}."
                )
            gold_exists = mask.gather(1, labels.long().unsqueeze(1)).squeeze(1)
            if not bool(gold_exists.all()):
                row = int(torch.nonzero(~gold_exists)[0, 0])
                raise InputError(
                    f"LossInputs.labels[{row}] = {int(labels[row])} points at an option that "
                    "option_mask marks as padding."
                )
        if self.answer_tokens is not None:
            for name in ("uniform_cross_entropy", "negative_entropy"):
                value = getattr(self.answer_tokens, name)
                if value.shape != (batch,) or not bool(torch.isfinite(value).all()):
                    raise InputError(
                        f"LossInputs.answer_tokens.{name} must be finite with shape ({batch},); got "
                        f"shape {tuple(value.shape)}."
                    )
        existing = torch.isfinite(scores) if mask is None else torch.isfinite(scores) | ~mask
        if not bool(existing.all()):
            row = int(torch.nonzero(~existing)[0, 0])
            raise InputError(
                f"LossInputs.option_scores[{row}] has a NaN/inf score on an existing option "
                "(the model produced non-finite log-probs; try float32)."
            )

    @property
    def mask(self) -> torch.Tensor:
        """``option_mask``, or all True when it is ``None``."""
        if self.option_mask is None:
            return torch.ones(self.option_scores.shape, dtype=torch.bool, device=self.option_scores.device)
        return self.option_mask

    def scores(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``option_scores`` in the working dtype with padded entries set to 0 (values never read).

        Zeroing through ``torch.where`` rather than arithmetic keeps a ``-inf``/NaN in a padded slot from
        reaching the values or, as ``0 * inf``, the gradient.
        """
        dtype = dtype or working_dtype(self.option_scores.dtype)
        scores = self.option_scores.to(dtype)
        if self.option_mask is None:
            return scores
        return torch.where(self.option_mask, scores, 0.0)


def option_log_probs(option_scores: torch.Tensor, option_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``log q = log_softmax(s)`` over the existing options; ``-inf`` at padded options.

    Computed with ``log_softmax`` (a log-sum-exp), never ``log(softmax)``, so scores of -1e4 stay finite.
    Half-precision inputs are promoted to float32; float64 stays float64.
    """
    scores = option_scores.to(working_dtype(option_scores.dtype))
    if option_mask is not None:
        scores = scores.masked_fill(~option_mask, float("-inf"))
    return torch.log_softmax(scores, dim=1)


def gold_nll(inputs: LossInputs) -> torch.Tensor:
    """``(B,)`` full-vocabulary negative log-likelihood of the gold answer, ``NLL_i = -s_{i,y_i}``.

    This is the per-example quantity CogCalib's knowledge detector thresholds.
    """
    return -inputs.scores().gather(1, inputs.labels.long().unsqueeze(1)).squeeze(1)
