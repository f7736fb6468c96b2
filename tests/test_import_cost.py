"""What importing llmcal costs: the CLI and the numpy-only packages never load torch or plotting.

The layering itself (which package may import which) is checked by import-linter's contracts in
pyproject.toml (``lint-imports``, run by CI); this checks what those contracts cannot see, that the heavy
libraries the upper layers use are imported lazily, inside the functions that need them.
"""

from __future__ import annotations

import subprocess
import sys


def test_core_imports_do_not_pull_in_torch_or_transformers():
    code = (
        "import sys, llmcal, llmcal.metrics, llmcal.calibrators, llmcal.runs, llmcal.reports.cells; "
        "import llmcal.cli.app; "
        "heavy = ('torch', 'transformers', 'peft', 'datasets', 'matplotlib'); "
        "heavy = sorted(name for name in heavy if name in sys.modules); "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_the_server_backend_never_imports_a_servers_own_package(tmp_path):
    # A stand-in `vllm` package that fails loudly if imported: the server path must reach vLLM over HTTP only
    # (it pins an older transformers than llmcal's). import-linter forbids the import statically; this
    # catches a dynamic one (importlib, a plug-in) on the paths that build a server backend.
    (tmp_path / "vllm").mkdir()
    (tmp_path / "vllm" / "__init__.py").write_text("raise ImportError('llmcal imported vllm')\n")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import llmcal.cli.app, llmcal.cli.serve_local_command, llmcal.scoring.server; "
        "from llmcal.cli.app import main; main(['serve-local', '--help']); main(['eval', '--help']); "
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('vllm', 'sglang')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
