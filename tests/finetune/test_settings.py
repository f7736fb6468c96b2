"""FinetuneSettings: one source of defaults, the loss's config, and a record that never changes on disk."""

from __future__ import annotations

import json

import pytest

from llmcal.errors import InputError
from llmcal.finetune.losses import (
    CogCalibConfig,
    LabelSmoothingConfig,
    MarginCogCalibConfig,
    NoHyperparameters,
    RcftConfig,
)
from llmcal.finetune.settings import AlignSettings, FinetuneSettings, LoraSettings
from llmcal.runs.training_settings import align_settings_record, finetune_settings_record

# The "settings" object of a demo run's results.json as written before losses became plug-ins (the sft
# variant of `llmcal demo --quick`), byte for byte.
RECORDED_SFT_SETTINGS = """{
  "method": "sft",
  "epochs": 3,
  "learning_rate": 0.002,
  "batch_size": 32,
  "lora": null,
  "loss": {
    "smoothing": 0.0,
    "alpha": 0.0,
    "margin": 10.0,
    "rcft_alpha": 0.5,
    "rcft_scale": 0.001,
    "bins": null,
    "rcft_include_top_bin": true,
    "rcft_target_gradient": false
  },
  "format": "cloze",
  "style": "completion",
  "refresh_every_epoch": true,
  "style_adaptation_items": 0,
  "checkpoints": false,
  "seed": 0
}"""

DEMO_CONFIGS = (LabelSmoothingConfig(0.0), CogCalibConfig(0.0), MarginCogCalibConfig(0.0), RcftConfig())


def test_the_record_keeps_the_historical_layout_byte_for_byte():
    settings = FinetuneSettings(loss="sft", epochs=3, learning_rate=0.002, batch_size=32,
                                loss_configs=DEMO_CONFIGS, style="completion")  # fmt: skip
    assert json.dumps(settings.record(), indent=2) == RECORDED_SFT_SETTINGS


def test_the_record_lists_every_loss_s_hyperparameters_with_defaults_for_missing_configs():
    record = FinetuneSettings(loss="rcft", loss_configs=(RcftConfig(rcft_alpha=0.25),)).record()
    assert record["method"] == "rcft"
    assert record["loss"] == {"smoothing": 0.1, "alpha": 0.1, "margin": 10.0, "rcft_alpha": 0.25,
                              "rcft_scale": 0.001, "bins": None, "rcft_include_top_bin": True,
                              "rcft_target_gradient": False}  # fmt: skip
    lora = FinetuneSettings(lora=LoraSettings(4, 8, ("c_attn",))).record()["lora"]
    assert lora == {"rank": 4, "alpha": 8, "target_modules": ("c_attn",)}


def test_a_shared_hyperparameter_is_recorded_with_the_running_loss_s_value():
    configs = (CogCalibConfig(alpha=0.2), MarginCogCalibConfig(alpha=0.7, margin=3.0))
    assert FinetuneSettings(loss="cogcalib-mbls", loss_configs=configs).record()["loss"]["alpha"] == 0.7
    assert FinetuneSettings(loss="cogcalib-ecp", loss_configs=configs).record()["loss"]["alpha"] == 0.2
    # A loss without alpha records that of the first registered loss that has one (cogcalib-ls).
    assert FinetuneSettings(loss="sft", loss_configs=configs).record()["loss"]["alpha"] == 0.2


def test_each_loss_runs_with_its_own_config_or_its_defaults():
    configs = (CogCalibConfig(0.3), LabelSmoothingConfig(0.2))
    settings = FinetuneSettings(loss="cogcalib-ls", loss_configs=configs)
    assert settings.loss_config == CogCalibConfig(0.3)
    assert settings.config_of("cogcalib-ecp") == CogCalibConfig(0.3)  # the two share a config type
    assert settings.config_of("ls") == LabelSmoothingConfig(0.2)
    assert settings.config_of("cogcalib-mbls") == MarginCogCalibConfig()
    assert settings.config_of("sft") == NoHyperparameters()


def test_the_defaults_are_the_command_line_s():
    settings = FinetuneSettings()
    chosen = (settings.loss, settings.epochs, settings.learning_rate, settings.batch_size)
    assert chosen == ("sft", 3, 1e-4, 8)


def test_an_unknown_loss_is_refused_with_suggestions():
    with pytest.raises(InputError, match=r"Unknown loss 'cogcalib-lss'\. Did you mean: cogcalib-ls"):
        FinetuneSettings(loss="cogcalib-lss")


def test_configs_no_loss_takes_or_two_of_one_type_are_refused():
    with pytest.raises(InputError) as wrong_type:
        FinetuneSettings(loss_configs=(LabelSmoothingConfig(), {"alpha": 0.1}))
    assert str(wrong_type.value) == (
        "FinetuneSettings.loss_configs[1] is a dict, which no registered loss takes; expected one of "
        "CogCalibConfig, LabelSmoothingConfig, MarginCogCalibConfig, NoHyperparameters, RcftConfig."
    )
    with pytest.raises(InputError) as twice:
        FinetuneSettings(loss_configs=(CogCalibConfig(0.1), CogCalibConfig(0.2)))
    assert str(twice.value) == "FinetuneSettings.loss_configs has two CogCalibConfigs; pass one per type."


def test_the_runs_layer_writes_the_record_from_plain_data():
    record = finetune_settings_record(
        {"loss": "focal", "epochs": 1, "loss_configs": ({"gamma": 2.0},), "seed": 0},
        [{"smoothing": 0.1}, {"rcft_scale": 0.001, "rcft_extra": True}, {"gamma": 1.0}],
        running={"gamma": 2.0},
    )
    assert json.dumps(record) == (
        '{"method": "focal", "epochs": 1, "loss": {"smoothing": 0.1, "rcft_scale": 0.001, "bins": null, '
        '"rcft_extra": true, "gamma": 2.0}, "seed": 0}'
    )
    assert align_settings_record({"loss": "ipo", "beta": 0.5}) == {"method": "ipo", "beta": 0.5}


def test_align_settings_check_their_loss_naming_the_parameter():
    with pytest.raises(InputError) as refused:
        AlignSettings(loss="ppo")
    assert str(refused.value) == "`loss` must be one of dpo, ipo; got 'ppo'."
    assert refused.value.parameter == "loss"
