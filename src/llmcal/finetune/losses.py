"""Fine-tuning losses on per-option log-likelihoods: pure torch functions, registered by name.

Every loss reads a :class:`LossInputs` and its own config dataclass (only its hyperparameters) and returns
a scalar tensor that is differentiable with respect to ``option_scores``. Notation used throughout, for
example ``i`` with gold option ``y_i`` and existing options ``k = 1..K_i`` (padded options are ignored
everywhere):

- ``s_ik``: the option score, the sum over the option's tokens of full-vocabulary log-probabilities;
- ``NLL_i = -s_{i,y_i}``: the gold answer's full-vocabulary negative log-likelihood;
- ``q_i = softmax(s_i)``: the model's distribution restricted to the ``K_i`` options.

Open-ended items train on their gold answer alone (one "option"), so option-restricted terms mean nothing
there; their batches carry :class:`AnswerTokenTerms`, the full-vocabulary distributions of the answer's
tokens, and the label-smoothing and entropy terms are taken over those instead (token-level, as CogCalib
does for HotpotQA). A loss declares whether it applies to them (``LossPlugin.open_ended``).

Each is registered in :data:`LOSSES` as a :class:`LossPlugin`, which also declares what the loss needs
from the trainer: known/unknown flags (``needs_known_flags``) and a per-epoch hook (``epoch_hook``, RCFT's
E-step), so the registry entry is the only place a new loss has to be added. Registered
(definitions in ``docs/papers.md``, "Fine-tuning losses"):

- ``sft`` and ``cft``: ``mean_i NLL_i`` (``cft`` is the same objective applied to an aligned model,
  Xiao et al., ICML 2025; a separate name so runs are labelled);
- ``ls``: label smoothing restricted to the options, on every example;
- ``cogcalib-ls``, ``cogcalib-mbls``, ``cogcalib-ecp``: ``mean_i [NLL_i + 1[known_i] alpha L_cal_i]``
  (Wang et al., ACL 2025, arXiv 2505.20903) with a label-smoothing, margin-based label-smoothing or
  entropy-penalty ``L_cal``;
- ``rcft``: ``(1 - a) mean_i NLL_i + a 1e-3 L_cal`` with the EM bin-wise calibration loss of Xiao et al.
  (arXiv 2505.01997; ``docs/papers.md``, "Paper 2: CFT and RCFT").

Examples:
    >>> scores = torch.tensor([[-1.0, -2.0], [-3.0, -0.5]])
    >>> inputs = LossInputs(scores, torch.tensor([0, 1]))
    >>> round(float(LOSSES.get("sft")(inputs, NoHyperparameters())), 4)
    0.75
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch

from llmcal.errors import InputError
from llmcal.registry import Registry

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

# Xiao et al.'s code scales the calibration term by 1e-3 on top of the mixing weight a; kept so the
# paper's a = 0.5 default means the same thing here.
RCFT_CALIBRATION_SCALE = 1e-3


def _working_dtype(dtype: torch.dtype) -> torch.dtype:
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
            meaning "every example unknown". Only losses whose :class:`LossPlugin` declares
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
        dtype = dtype or _working_dtype(self.option_scores.dtype)
        scores = self.option_scores.to(dtype)
        if self.option_mask is None:
            return scores
        return torch.where(self.option_mask, scores, 0.0)


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


def _check_alpha(owner: str, alpha: float) -> None:
    # Written as "not (inside)" so NaN fails every check.
    if not 0.0 <= alpha < math.inf:
        raise InputError(f"{owner}.alpha must be finite and >= 0; got {alpha}.")


@dataclass(frozen=True)
class NoHyperparameters:
    """Config of a loss that has no hyperparameters (``sft``, ``cft``)."""


@dataclass(frozen=True)
class LabelSmoothingConfig:
    """Hyperparameters of ``ls``.

    Attributes:
        smoothing: Label-smoothing epsilon, in [0, 1).

    Raises:
        InputError: If ``smoothing`` is out of range.
    """

    smoothing: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.smoothing < 1.0:
            raise InputError(
                f"LabelSmoothingConfig.smoothing must be in [0, 1); got {self.smoothing} (--smoothing)."
            )


@dataclass(frozen=True)
class CogCalibConfig:
    """Hyperparameters of ``cogcalib-ls`` and ``cogcalib-ecp``.

    Attributes:
        alpha: Weight of the CogCalib regulariser on known examples, >= 0.

    Raises:
        InputError: If ``alpha`` is negative, infinite or NaN.
    """

    alpha: float = 0.1

    def __post_init__(self) -> None:
        _check_alpha("CogCalibConfig", self.alpha)


@dataclass(frozen=True)
class MarginCogCalibConfig:
    """Hyperparameters of ``cogcalib-mbls``.

    Attributes:
        alpha: Weight of the CogCalib regulariser on known examples, >= 0.
        margin: Margin ``m`` of margin-based label smoothing, >= 0; Liu et al.'s default 10.

    Raises:
        InputError: If a value is out of its range; the message names the field.
    """

    alpha: float = 0.1
    margin: float = 10.0

    def __post_init__(self) -> None:
        _check_alpha("MarginCogCalibConfig", self.alpha)
        if not 0.0 <= self.margin < math.inf:
            raise InputError(f"MarginCogCalibConfig.margin must be finite and >= 0; got {self.margin}.")


@dataclass(frozen=True)
class RcftConfig:
    """Hyperparameters of ``rcft``; the E-step's :class:`BinStatistics` are epoch state, not config.

    The field names keep their ``rcft_`` prefix: they are the ``--rcft-*`` flags and the keys under which
    every run's ``results.json`` records them, next to the CogCalib ``alpha``.

    Attributes:
        rcft_alpha: RCFT mixing weight ``a`` in ``(1 - a) L_SFT + a c L_cal``, in [0, 1]; 0 is CFT.
        rcft_scale: The constant ``c`` above, > 0. The authors' 1e-3 (the default) leaves ``L_cal`` so
            small next to the NLL that, on the knowledge world, RCFT trains the same model as CFT.
        rcft_include_top_bin: Whether the top confidence bin contributes to ``L_cal``. The authors' code
            loops over bins ``0..M-2`` and so never regularises the top bin, which looks like an
            off-by-one; ``False`` reproduces it.
        rcft_target_gradient: Whether the gradient of ``L_cal`` flows through the non-max targets. The
            authors' code computes the targets from the live probabilities, so it does (``True``
            reproduces it). llmcal's default treats them as constants of the M-step, like ``acc_k``: a
            target that moves with the probabilities it pulls on lets the optimiser shrink the loss by
            dragging the target along, which weakens the pull toward the E-step's accuracy.

    Raises:
        InputError: If a value is out of its range; the message names the field.
    """

    rcft_alpha: float = 0.5
    rcft_scale: float = RCFT_CALIBRATION_SCALE
    rcft_include_top_bin: bool = True
    rcft_target_gradient: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.rcft_alpha <= 1.0:
            raise InputError(f"RcftConfig.rcft_alpha must be in [0, 1]; got {self.rcft_alpha}.")
        if not 0.0 < self.rcft_scale < math.inf:
            raise InputError(f"RcftConfig.rcft_scale must be finite and > 0; got {self.rcft_scale}.")


@dataclass(frozen=True)
class EpochData:
    """What an epoch hook may look at when an epoch begins.

    Attributes:
        training_scores: Returns ``(option_scores, labels)`` of the whole training set under the current
            model in eval mode, shape ``(N, K)`` (``-inf`` at padded options) and ``(N,)``. Called only by
            hooks that need it, since it costs one forward pass over the training set.
    """

    training_scores: Callable[[], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class EpochUpdate:
    """What an epoch hook returns.

    Attributes:
        state: Handed to the loss as ``epoch_state`` on every step until the next hook call.
        record: Merged into the epoch's entry of the run's ``results.json`` (``"epochs"``).
    """

    state: object
    record: dict[str, Any] = field(default_factory=dict)


ConfigT = TypeVar("ConfigT")


@dataclass(frozen=True)
class LossPlugin(Generic[ConfigT]):
    """A registered loss: how to compute it and what it needs from the trainer.

    Attributes:
        compute: ``(inputs, config, epoch_state) -> scalar``; ``epoch_state`` is the latest
            :attr:`EpochUpdate.state` of ``epoch_hook`` (``None`` before the first, or without a hook).
        config_type: The dataclass of the loss's hyperparameters; constructing it without arguments gives
            the defaults.
        needs_known_flags: Whether the loss reads :attr:`LossInputs.known`. The trainer then fits a
            known/unknown detector on calibration items with prior-knowledge ground truth each epoch, and
            a run refuses to start without such items.
        epoch_hook: Called when every epoch begins (e.g. RCFT's E-step), or ``None``.
        open_ended: Whether the loss applies to open-ended examples (their gold answer only, with
            :class:`AnswerTokenTerms`); losses defined over several options do not.
    """

    compute: Callable[[LossInputs, ConfigT, Any], torch.Tensor]
    config_type: type[ConfigT]
    needs_known_flags: bool = False
    epoch_hook: Callable[[EpochData, ConfigT], EpochUpdate] | None = None
    open_ended: bool = False

    def __call__(
        self, inputs: LossInputs, config: ConfigT | None = None, epoch_state: object = None
    ) -> torch.Tensor:
        """The loss of ``inputs``; ``config=None`` means the defaults of :attr:`config_type`.

        Raises:
            InputError: If ``config`` is not a :attr:`config_type`.
        """
        return self.compute(inputs, self.checked_config(config), epoch_state)

    def checked_config(self, config: Any | None, *, owner: str = "this loss") -> ConfigT:
        """``config``, or the defaults of :attr:`config_type` for ``None``.

        Args:
            config: The config given, if any.
            owner: What takes it, for the message (e.g. ``loss 'ls'``).

        Raises:
            InputError: If ``config`` is not a :attr:`config_type`.
        """
        if config is None:
            return self.config_type()
        if not isinstance(config, self.config_type):
            raise InputError(
                f"{owner} takes a {self.config_type.__name__}; got a {type(config).__name__} "
                f"(build the config with {self.config_type.__name__}(...))."
            )
        return config


LOSSES: Registry[LossPlugin[Any]] = Registry("loss")


def option_log_probs(option_scores: torch.Tensor, option_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``log q = log_softmax(s)`` over the existing options; ``-inf`` at padded options.

    Computed with ``log_softmax`` (a log-sum-exp), never ``log(softmax)``, so scores of -1e4 stay finite.
    Half-precision inputs are promoted to float32; float64 stays float64.
    """
    scores = option_scores.to(_working_dtype(option_scores.dtype))
    if option_mask is not None:
        scores = scores.masked_fill(~option_mask, float("-inf"))
    return torch.log_softmax(scores, dim=1)


def gold_nll(inputs: LossInputs) -> torch.Tensor:
    """``(B,)`` full-vocabulary negative log-likelihood of the gold answer, ``NLL_i = -s_{i,y_i}``.

    This is the per-example quantity CogCalib's knowledge detector thresholds.
    """
    return -inputs.scores().gather(1, inputs.labels.long().unsqueeze(1)).squeeze(1)


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
        return inputs.answer_tokens.uniform_cross_entropy.to(_working_dtype(inputs.option_scores.dtype))
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


def check_open_ended(loss: str) -> None:
    """Checks that loss ``loss`` applies to open-ended examples (:attr:`LossPlugin.open_ended`).

    Raises:
        InputError: If it compares answer options, naming the losses that do apply.
    """
    if not LOSSES.get(loss).open_ended:
        usable = [name for name in LOSSES.names() if LOSSES.get(name).open_ended]
        raise InputError(
            f"--method {loss} compares answer options; open-ended items have only their gold answer. "
            f"Use one of {', '.join(usable)}."
        )


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
        return inputs.answer_tokens.negative_entropy.to(_working_dtype(inputs.option_scores.dtype))
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
    working = _working_dtype(inputs.option_scores.dtype)
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
    _options_only(inputs, "rcft")
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


def _without_epoch_state(
    loss: Callable[[LossInputs, ConfigT], torch.Tensor],
) -> Callable[[LossInputs, ConfigT, Any], torch.Tensor]:
    """Adapts a loss that keeps no epoch state to :attr:`LossPlugin.compute`."""

    def compute(inputs: LossInputs, config: ConfigT, epoch_state: object) -> torch.Tensor:
        del epoch_state
        return loss(inputs, config)

    return compute


LOSSES.add("sft", LossPlugin(_without_epoch_state(sft_loss), NoHyperparameters, open_ended=True))
LOSSES.add("cft", LossPlugin(_without_epoch_state(cft_loss), NoHyperparameters, open_ended=True))
LOSSES.add(
    "ls", LossPlugin(_without_epoch_state(label_smoothing_loss), LabelSmoothingConfig, open_ended=True)
)
LOSSES.add(
    "cogcalib-ls",
    LossPlugin(
        _without_epoch_state(cogcalib_ls_loss), CogCalibConfig, needs_known_flags=True, open_ended=True
    ),
)
LOSSES.add(
    "cogcalib-mbls",
    LossPlugin(_without_epoch_state(cogcalib_mbls_loss), MarginCogCalibConfig, needs_known_flags=True),
)
LOSSES.add(
    "cogcalib-ecp",
    LossPlugin(
        _without_epoch_state(cogcalib_ecp_loss), CogCalibConfig, needs_known_flags=True, open_ended=True
    ),
)
LOSSES.add("rcft", LossPlugin(rcft_loss, RcftConfig, epoch_hook=rcft_e_step))
