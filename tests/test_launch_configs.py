"""The accelerate configurations in examples/accelerate/ read as accelerate itself reads them.

They are for GPU machines and are never run here. What can be checked without one is checked: the file is
YAML, every key is one accelerate knows (it ignores an unknown key inside ``fsdp_config`` or
``deepspeed_config`` without a word), every value is one it accepts, and ``accelerate launch`` itself,
stopped where it would start the processes, hands them the environment the file means.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from accelerate.commands import launch as accelerate_launch
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.utils import PrecisionType, constants
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "accelerate"
FSDP = CONFIGS / "fsdp.yaml"
ZERO3 = CONFIGS / "deepspeed_zero3.yaml"


def launch_environment(config: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, dict[str, str]]:
    """The arguments and environment ``accelerate launch --config_file config -m llmcal.cli.app finetune``
    gives the processes it would start (its launchers are replaced by one that only records them)."""
    seen: dict[str, Any] = {}

    def record_multi_gpu(args: Any) -> None:
        seen["args"], seen["env"] = args, prepare_multi_gpu_env(args)

    def record_deepspeed(args: Any) -> None:
        seen["args"], seen["env"] = args, prepare_deepspeed_cmd_env(args)[1]

    monkeypatch.setattr(accelerate_launch, "multi_gpu_launcher", record_multi_gpu)
    monkeypatch.setattr(accelerate_launch, "deepspeed_launcher", record_deepspeed)
    parser = accelerate_launch.launch_command_parser()
    # Port 0: a free one, so a launch test running beside this one cannot make accelerate warn.
    argv = ["--config_file", str(config), "--main_process_port", "0", "-m", "llmcal.cli.app", "finetune"]
    accelerate_launch.launch_command(parser.parse_args(argv))
    return seen["args"], seen["env"]


@pytest.mark.parametrize("config", [FSDP, ZERO3], ids=lambda path: path.name)
def test_config_loads_through_accelerates_own_reader(config):
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    required = ("compute_environment", "distributed_type", "mixed_precision", "num_machines", "num_processes")
    missing = [key for key in required if key not in raw]
    assert not missing, f"{config.name} lacks {missing}"
    # A YAML 1.1 bare `no` is the boolean false, which accelerate's launcher cannot read as a precision.
    assert raw["mixed_precision"] in PrecisionType.list()
    loaded = load_config_from_file(str(config))  # refuses an unknown top-level key
    assert isinstance(loaded, ClusterConfig)
    assert (loaded.num_machines, loaded.num_processes, loaded.use_cpu) == (1, 8, False)


@pytest.mark.parametrize(
    ("config", "section"), [(FSDP, "fsdp_config"), (ZERO3, "deepspeed_config")], ids=["fsdp", "zero3"]
)
def test_every_nested_key_is_an_accelerate_launch_option(config, section):
    # accelerate copies each key of the section onto its launch arguments (fsdp_ prefixed for FSDP) and
    # reads only the ones its parser defines, so a misspelt key would be dropped silently.
    options = {action.dest for action in accelerate_launch.launch_command_parser()._actions}
    keys = yaml.safe_load(config.read_text(encoding="utf-8"))[section]
    unknown = sorted(key for key in keys if key not in options)
    assert not unknown, f"{config.name}: {section} keys accelerate does not know: {unknown}"


def test_fsdp_config_is_what_accelerate_launch_passes_on(monkeypatch):
    raw = yaml.safe_load(FSDP.read_text(encoding="utf-8"))["fsdp_config"]
    assert raw["fsdp_sharding_strategy"] in constants.FSDP_SHARDING_STRATEGY
    assert raw["fsdp_auto_wrap_policy"] in constants.FSDP_AUTO_WRAP_POLICY
    assert raw["fsdp_state_dict_type"] in constants.FSDP_STATE_DICT_TYPE
    assert raw["fsdp_backward_prefetch"] in constants.FSDP_BACKWARD_PREFETCH

    args, env = launch_environment(FSDP, monkeypatch)
    assert args.use_fsdp
    assert not args.use_deepspeed
    assert args.module
    assert args.training_script == "llmcal.cli.app"
    assert args.training_script_args == ["finetune"]
    assert args.nproc_per_node == "8"
    assert env["ACCELERATE_USE_FSDP"] == "true"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    assert env["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD"
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    # Left out on purpose: accelerate then wraps the model's own `_no_split_modules`.
    assert "FSDP_TRANSFORMER_CLS_TO_WRAP" not in env
    assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"
    assert env["FSDP_USE_ORIG_PARAMS"] == "true"  # LoRA (PEFT) needs it
    assert env["FSDP_OFFLOAD_PARAMS"] == "false"
    assert env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "false"


def test_deepspeed_zero3_config_is_what_accelerate_launch_passes_on(monkeypatch):
    args, env = launch_environment(ZERO3, monkeypatch)
    assert args.use_deepspeed
    assert not args.use_fsdp
    assert args.module
    assert args.training_script == "llmcal.cli.app"
    assert args.nproc_per_node == "8"
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true"
    assert env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"
    assert env["ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE"] == "none"
    assert env["ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE"] == "none"
    assert env["ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL"] == "true"
    assert env["ACCELERATE_DEEPSPEED_ZERO3_INIT"] == "false"
    assert env["ACCELERATE_GRADIENT_ACCUMULATION_STEPS"] == "1"
    # bf16 here would be refused by transformers against llmcal's TrainingArguments (no bf16); see the file.
    assert env["ACCELERATE_MIXED_PRECISION"] == "no"
