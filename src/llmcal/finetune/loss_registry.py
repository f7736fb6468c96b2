"""The fine-tuning losses by name, declared without importing torch: :data:`LOSSES`.

Each name maps to a :class:`LossPlugin`: the dataclass of the loss's hyperparameters
(:mod:`llmcal.finetune.loss_settings`), a one-line summary, what the loss needs from the trainer
(known/unknown flags, a per-epoch hook such as RCFT's E-step), whether it applies to open-ended items, and
its torch code as a lazy ``"package.module:function"`` reference, imported on the first call. So the
command line builds ``llmcal finetune``'s ``--method`` help and hyperparameter options from these entries
without loading torch, and the trainer never looks at a loss's name.

Adding a loss takes one module and one line. The module holds the hyperparameters' dataclass (fields
declared with :func:`~llmcal.finetune.hyperparameters.hyperparameter`, so each brings its option), the loss
function ``(inputs, config, epoch_state) -> scalar tensor`` (importing torch inside itself, or the module
is not light) and a :class:`LossPlugin` naming both; the line registers it::

    LOSSES.add_lazy("focal", "my_losses.focal:FOCAL")

Register before the command line is imported (``llmcal.cli``): it reads the registry to build its commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from llmcal.errors import InputError
from llmcal.finetune.loss_settings import (
    CogCalibConfig,
    LabelSmoothingConfig,
    MarginCogCalibConfig,
    NoHyperparameters,
    RcftConfig,
)
from llmcal.registry import Registry, load_reference

if TYPE_CHECKING:
    import torch

    from llmcal.finetune.loss_inputs import LossInputs

__all__ = [
    "LOSSES",
    "EpochData",
    "EpochUpdate",
    "LazyEpochHook",
    "LazyLoss",
    "LossPlugin",
    "check_open_ended",
    "config_types",
]

ConfigT = TypeVar("ConfigT")


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


@dataclass(frozen=True)
class LazyLoss:
    """A loss function named ``"package.module:function"``, imported on its first call.

    Attributes:
        path: Where the function is.
        takes_epoch_state: Whether it takes ``(inputs, config, epoch_state)``; otherwise it keeps no epoch
            state and takes ``(inputs, config)``.
    """

    path: str
    takes_epoch_state: bool = False

    def __call__(self, inputs: LossInputs, config: Any, epoch_state: object) -> torch.Tensor:
        """The loss of ``inputs`` (the module is imported once; later calls find it loaded)."""
        function = load_reference(self.path)
        if self.takes_epoch_state:
            return function(inputs, config, epoch_state)  # type: ignore[no-any-return]
        return function(inputs, config)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LazyEpochHook:
    """An epoch hook ``(data, config) -> EpochUpdate`` at ``"package.module:function"``, imported on call."""

    path: str

    def __call__(self, data: EpochData, config: Any) -> EpochUpdate:
        """The hook's update for the epoch that begins."""
        return load_reference(self.path)(data, config)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LossPlugin(Generic[ConfigT]):
    """A registered loss: how to compute it and what it needs from the trainer.

    Attributes:
        compute: ``(inputs, config, epoch_state) -> scalar``; ``epoch_state`` is the latest
            :attr:`EpochUpdate.state` of ``epoch_hook`` (``None`` before the first, or without a hook).
            A :class:`LazyLoss` keeps the torch code unimported until the first call.
        config_type: The dataclass of the loss's hyperparameters; constructing it without arguments gives
            the defaults, and its fields are the loss's ``llmcal finetune`` options.
        needs_known_flags: Whether the loss reads ``LossInputs.known``. The trainer then fits a
            known/unknown detector on calibration items with prior-knowledge ground truth each epoch, and
            a run refuses to start without such items.
        epoch_hook: Called when every epoch begins (e.g. RCFT's E-step), or ``None``.
        open_ended: Whether the loss applies to open-ended examples (their gold answer only, with
            ``AnswerTokenTerms``); losses defined over several options do not.
        summary: One line saying what the loss is, for ``llmcal finetune --help``.
    """

    compute: Callable[[LossInputs, ConfigT, Any], torch.Tensor]
    config_type: type[ConfigT]
    needs_known_flags: bool = False
    epoch_hook: Callable[[EpochData, ConfigT], EpochUpdate] | None = None
    open_ended: bool = False
    summary: str = ""

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


def config_types() -> list[type]:
    """The hyperparameter dataclasses of the registered losses, each once, in registration order.

    Looking them up imports the modules of losses registered with ``add_lazy`` (not their torch code).
    """
    return list(dict.fromkeys(LOSSES.get(name).config_type for name in LOSSES))


def check_open_ended(loss: str) -> None:
    """Checks that loss ``loss`` applies to open-ended examples (:attr:`LossPlugin.open_ended`).

    Raises:
        InputError: If it compares answer options, naming the losses that do apply.
    """
    if not LOSSES.get(loss).open_ended:
        usable = [name for name in LOSSES.names() if LOSSES.get(name).open_ended]
        raise InputError(
            f"`loss` {loss} compares answer options; open-ended items have only their gold answer. "
            f"Use one of {', '.join(usable)}.",
            parameter="loss",
        )


_LOSSES_MODULE = "llmcal.finetune.losses"
_RCFT_MODULE = "llmcal.finetune.rcft"

LOSSES.add(
    "sft",
    LossPlugin(LazyLoss(f"{_LOSSES_MODULE}:sft_loss"), NoHyperparameters, open_ended=True,
               summary="cross-entropy on the answer"),
)  # fmt: skip
LOSSES.add(
    "cft",
    LossPlugin(LazyLoss(f"{_LOSSES_MODULE}:cft_loss"), NoHyperparameters, open_ended=True,
               summary="sft of an aligned model"),
)  # fmt: skip
LOSSES.add(
    "ls",
    LossPlugin(LazyLoss(f"{_LOSSES_MODULE}:label_smoothing_loss"), LabelSmoothingConfig, open_ended=True,
               summary="label smoothing on every item"),
)  # fmt: skip
LOSSES.add(
    "cogcalib-ls",
    LossPlugin(LazyLoss(f"{_LOSSES_MODULE}:cogcalib_ls_loss"), CogCalibConfig, needs_known_flags=True,
               open_ended=True, summary="label smoothing on known items"),
)  # fmt: skip
LOSSES.add(
    "cogcalib-mbls",
    LossPlugin(LazyLoss(f"{_LOSSES_MODULE}:cogcalib_mbls_loss"), MarginCogCalibConfig, needs_known_flags=True,
               summary="margin-based label smoothing on known items"),
)  # fmt: skip
LOSSES.add(
    "cogcalib-ecp",
    LossPlugin(LazyLoss(f"{_LOSSES_MODULE}:cogcalib_ecp_loss"), CogCalibConfig, needs_known_flags=True,
               open_ended=True, summary="entropy penalty on known items"),
)  # fmt: skip
LOSSES.add(
    "rcft",
    LossPlugin(LazyLoss(f"{_RCFT_MODULE}:rcft_loss", takes_epoch_state=True), RcftConfig,
               epoch_hook=LazyEpochHook(f"{_RCFT_MODULE}:rcft_e_step"),
               summary="cft with an EM calibration loss"),
)  # fmt: skip
