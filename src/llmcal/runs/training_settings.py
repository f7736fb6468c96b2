"""How ``results.json`` and ``run.json`` record a fine-tuning or alignment run's settings.

The files are compared byte for byte across versions, so the recorded layout never follows a rename in
code. This module owns the differences between the Python names and the disk:

- the loss's name is recorded as ``"method"``, and a fine-tuning run's loss hyperparameters under
  ``"loss"``, as one flat object;
- that object holds every registered loss's hyperparameters, in registration order of their first
  appearance: the hyperparameters of every loss once shared one config, which also held RCFT's E-step
  bins (always null in settings; they are computed during training), so ``"bins": null`` stays after
  ``"rcft_scale"``.

It takes plain data (the settings as :func:`dataclasses.asdict` gives them), so the fine-tuning layer
above decides what its settings are and this one only how they are written.

Examples:
    >>> align_settings_record({"loss": "dpo", "beta": 0.1})
    {'method': 'dpo', 'beta': 0.1}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["align_settings_record", "finetune_settings_record"]

# Python names -> the keys the files have always used for them.
_RECORDED_KEYS = {"loss": "method", "loss_configs": "loss"}

_LEGACY_NULL_KEY, _LEGACY_NULL_AFTER = "bins", "rcft_scale"


def finetune_settings_record(
    settings: Mapping[str, Any],
    hyperparameters: Sequence[Mapping[str, Any]],
    running: Mapping[str, Any],
) -> dict[str, Any]:
    """A fine-tuning run's settings as its files record them.

    Args:
        settings: ``FinetuneSettings`` as plain data, in field order; its ``"loss_configs"`` entry is
            replaced by the flat hyperparameter object.
        hyperparameters: Each registered loss's hyperparameters (field -> value: its config in the
            settings, or the defaults), in registration order.
        running: The hyperparameters of the loss that runs. A field several losses share (the CogCalib
            ``alpha``) is recorded with its value here, or else with that of the first loss that has it.

    Examples:
        >>> record = finetune_settings_record(
        ...     {"loss": "rcft", "loss_configs": (), "seed": 0},
        ...     [{"alpha": 0.1}, {"rcft_alpha": 0.5, "rcft_scale": 0.001}],
        ...     running={"rcft_alpha": 0.5, "rcft_scale": 0.001},
        ... )
        >>> list(record), record["loss"]
        (['method', 'loss', 'seed'], {'alpha': 0.1, 'rcft_alpha': 0.5, 'rcft_scale': 0.001, 'bins': None})
    """
    record: dict[str, Any] = {}
    for name, value in settings.items():
        recorded = _hyperparameter_record(hyperparameters, running) if name == "loss_configs" else value
        record[_RECORDED_KEYS.get(name, name)] = recorded
    return record


def align_settings_record(settings: Mapping[str, Any]) -> dict[str, Any]:
    """An alignment run's settings (``AlignSettings`` as plain data) as its files record them."""
    return {_RECORDED_KEYS.get(name, name): value for name, value in settings.items()}


def _hyperparameter_record(
    hyperparameters: Sequence[Mapping[str, Any]], running: Mapping[str, Any]
) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for config in hyperparameters:
        for key, value in config.items():
            if key not in record:
                record[key] = running.get(key, value)
            if key == _LEGACY_NULL_AFTER:
                record[_LEGACY_NULL_KEY] = None
    return record
