"""lm-polygraph's metric and estimator modules, loaded without running its package ``__init__``.

lm-polygraph is installed with ``--no-deps`` (README's test command): its package ``__init__`` imports its
model wrappers and their dependencies (fschat, spacy, bitsandbytes, ...), which llmcal's dev environment
does not need. The modules the tests compare against import numpy, scipy and transformers only, so they are
loaded beneath stub parent packages, and the stubs are removed afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

_PACKAGES = ("lm_polygraph", "lm_polygraph.ue_metrics", "lm_polygraph.estimators", "lm_polygraph.utils")


@contextmanager
def polygraph_modules(*names: str) -> Iterator[list[types.ModuleType]]:
    """The modules ``lm_polygraph.<name>``; skips the test (fails it under CI) if lm-polygraph is missing."""
    spec = importlib.util.find_spec("lm_polygraph")
    if spec is None or spec.submodule_search_locations is None:
        if os.environ.get("CI") == "true":
            pytest.fail("lm-polygraph is not installed; README's test command installs it (--no-deps)")
        pytest.skip("lm-polygraph is not installed (pip install --no-deps lm-polygraph==0.7.0)")
    root = next(iter(spec.submodule_search_locations))
    saved = {name: module for name, module in sys.modules.items() if name.startswith("lm_polygraph")}
    for package in _PACKAGES:
        stub = types.ModuleType(package)
        stub.__path__ = [os.path.join(root, *package.split(".")[1:])]
        sys.modules[package] = stub
    try:
        yield [importlib.import_module(f"lm_polygraph.{name}") for name in names]
    finally:
        for name in [name for name in sys.modules if name.startswith("lm_polygraph")]:
            del sys.modules[name]
        sys.modules.update(saved)
