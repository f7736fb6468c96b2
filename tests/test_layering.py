"""The import rules DESIGN.md sets: the numpy-only core must stay importable without torch."""

from __future__ import annotations

import subprocess
import sys


def test_core_imports_do_not_pull_in_torch_or_transformers():
    code = (
        "import sys, llmcal, llmcal.metrics, llmcal.calibrators, llmcal.predictions, llmcal.cli.app; "
        "heavy = ('torch', 'transformers', 'peft', 'datasets', 'matplotlib'); "
        "heavy = sorted(name for name in heavy if name in sys.modules); "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
