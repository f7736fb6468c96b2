"""`llmcal serve-local`: the vLLM command for a resolved model, CPU flags without a GPU, refusals."""

from __future__ import annotations

import sys

import pytest

from llmcal.cli.app import main
from llmcal.cli.serve_local_command import server_command


def test_the_cpu_command_adds_what_vllms_cpu_build_needs() -> None:
    command, environment = server_command(
        "py",
        "/m",
        name="tiny",
        host="127.0.0.1",
        port=8011,
        max_model_len=512,
        gpu=False,
        extra=["--seed", "1"],
    )
    assert command == [
        "py", "-m", "vllm.entrypoints.openai.api_server", "--model", "/m", "--served-model-name", "tiny",
        "--host", "127.0.0.1", "--port", "8011", "--max-model-len", "512", "--no-enable-prefix-caching",
        "--dtype", "float32", "--enforce-eager", "--seed", "1",
    ]  # fmt: skip
    assert environment == {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    gpu_command, gpu_environment = server_command(
        "py",
        "/m",
        name="tiny",
        host="h",
        port=1,
        max_model_len=512,
        gpu=True,
        extra=["--tensor-parallel-size", "2"],
    )
    assert gpu_command[-2:] == ["--tensor-parallel-size", "2"]
    assert "--enforce-eager" not in gpu_command
    assert gpu_environment == {}


def test_a_dry_run_resolves_the_model_and_prints_the_command(
    tiny_model_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["serve-local", "--model", tiny_model_dir, "--name", "tiny", "--port", "8123", "--dry-run"]) == 0
    )
    err = capsys.readouterr().err
    assert f"--model {tiny_model_dir} --served-model-name tiny --host 127.0.0.1 --port 8123" in err
    assert "llmcal eval --server http://127.0.0.1:8123 --model tiny" in err


@pytest.mark.parametrize(
    ("python", "complaint"),
    [
        ("/no/such/python", "--python /no/such/python: no such interpreter"),
        (sys.executable, "cannot import vllm"),
    ],
)
def test_a_python_without_vllm_is_refused_with_how_to_install_it(
    tiny_model_dir: str, capsys: pytest.CaptureFixture[str], python: str, complaint: str
) -> None:
    assert main(["serve-local", "--model", tiny_model_dir, "--python", python]) == 2
    err = capsys.readouterr().err
    assert complaint in err
    assert "scripts/install-vllm-cpu.sh" in err
