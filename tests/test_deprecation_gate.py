"""The suite's gate on deprecated calls (tests/conftest.py) fails a test whose llmcal code raised one."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

_TEST = """
import warnings

def _from(module, category):
    namespace = {"__name__": module, "warnings": warnings, "category": category}
    exec("def call():\\n    warnings.warn('this API goes away', category)", namespace)
    namespace["call"]()

def test_deprecated_call_from_llmcal():
    _from("llmcal.scoring.hf", FutureWarning)

def test_deprecation_outside_llmcal():
    _from("somelibrary.module", DeprecationWarning)

def test_other_warnings_from_llmcal():
    _from("llmcal.metrics.bootstrap", UserWarning)
"""


def test_the_gate_fails_only_deprecations_raised_under_llmcal(pytester):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*llmcal made a deprecated call*", "*FutureWarning*this API goes away*"])
