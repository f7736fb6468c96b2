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
