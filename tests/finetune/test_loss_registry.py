"""The loss registry is torch-free: names, settings and summaries without the torch code behind them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmcal.errors import InputError
from llmcal.finetune.loss_registry import LOSSES, LazyLoss, LossPlugin, check_open_ended, config_types
from llmcal.finetune.loss_settings import (
    CogCalibConfig,
    LabelSmoothingConfig,
    MarginCogCalibConfig,
    NoHyperparameters,
    RcftConfig,
)


def test_the_registry_settings_and_records_need_no_torch_and_no_loss_code():
    code = (
        "import sys\n"
        "from llmcal.finetune.loss_registry import LOSSES, config_types\n"
        "from llmcal.finetune.settings import AlignSettings, FinetuneSettings\n"
        "config_types(); [LOSSES.get(name).summary for name in LOSSES]\n"
        "FinetuneSettings(loss='rcft').record(); AlignSettings(loss='ipo').record()\n"
        "loaded = ('torch', 'llmcal.finetune.losses', 'llmcal.finetune.rcft')\n"
        "print(','.join(name for name in loaded if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_each_settings_type_is_listed_once_in_registration_order():
    assert config_types() == [NoHyperparameters, LabelSmoothingConfig, CogCalibConfig, MarginCogCalibConfig,
                              RcftConfig]  # fmt: skip


def test_every_registered_loss_has_a_summary_for_the_help():
    assert all(LOSSES.get(name).summary for name in LOSSES)


def test_a_loss_that_compares_options_is_refused_for_open_items_naming_the_parameter():
    with pytest.raises(InputError) as refused:
        check_open_ended("cogcalib-mbls")
    assert str(refused.value) == (
        "`loss` cogcalib-mbls compares answer options; open-ended items have only their gold answer. "
        "Use one of sft, cft, ls, cogcalib-ls, cogcalib-ecp."
    )
    assert refused.value.parameter == "loss"
    check_open_ended("cogcalib-ls")


def test_a_lazy_loss_imports_its_function_on_the_first_call_and_drops_the_epoch_state_it_does_not_take():
    calls = []

    def two(inputs, config):
        calls.append((inputs, config))
        return 1.0

    def three(inputs, config, epoch_state):
        calls.append((inputs, config, epoch_state))
        return 2.0

    module = type(sys)("lazy_loss_test_module")
    module.two, module.three = two, three
    sys.modules["lazy_loss_test_module"] = module
    try:
        plugin = LossPlugin(LazyLoss("lazy_loss_test_module:two"), NoHyperparameters)
        assert plugin("inputs", None, "state") == 1.0
        stateful = LossPlugin(
            LazyLoss("lazy_loss_test_module:three", takes_epoch_state=True), NoHyperparameters
        )
        assert stateful("inputs", None, "state") == 2.0
    finally:
        del sys.modules["lazy_loss_test_module"]
    assert calls == [("inputs", NoHyperparameters()), ("inputs", NoHyperparameters(), "state")]
