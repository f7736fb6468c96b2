"""Shared fixtures: synthetic model outputs with a known amount of miscalibration, the tiny model, files."""

from __future__ import annotations

import json
import socket
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture scope
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest tests first (``runs_long(seconds)``, longest first; the rest keep their order).

    xdist's worksteal hands each worker a contiguous block of the collected order and steals from the back
    of the busiest; a multi-minute test collected near the end of a block would run alone after every other
    test is done. Started first, it runs beside the short ones.
    """

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("runs_long")
        return float(marker.args[0]) if marker is not None else 0.0

    items.sort(key=seconds, reverse=True)  # a stable sort: tests without the marker keep their order


def synthetic_logits(
    n_items: int, n_options: int, *, true_temperature: float = 2.0, scale: float = 3.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(logits / true_temperature).

    With ``true_temperature`` > 1 the raw softmax is overconfident and temperature scaling should
    recover ``true_temperature``.
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, scale, size=(n_items, n_options))
    tempered = np.exp(logits / true_temperature)
    tempered /= tempered.sum(axis=1, keepdims=True)
    labels = (rng.uniform(size=(n_items, 1)) > tempered.cumsum(axis=1)).sum(axis=1)
    return logits, np.minimum(labels, n_options - 1)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@pytest.fixture
def overconfident_run() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logits, probs, labels) for 4000 items x 4 options, overconfident by a temperature of 2."""
    logits, labels = synthetic_logits(4000, 4, true_temperature=2.0, seed=1)
    return logits, softmax(logits), labels


_TINY_CORPUS = [
    "Question: What is the capital of France? Answer: Paris is the capital of France.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "A. red B. green C. blue D. yellow. The answer is A. Answer: B",
    "Mountains rise above the valley; the king and the queen ride north to the old city.",
]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """A tiny GPT-2 (2 layers, 64 dims) with a byte-level BPE tokenizer trained here, saved as an HF dir."""
    from tests.tiny_gpt2 import build_tiny_gpt2

    return str(
        build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), _TINY_CORPUS * 20, vocab_size=400, seed=0)
    )


def _write_jsonl(path: Path, rows: Iterable[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def write_jsonl() -> Callable[[Path, Iterable[object]], Path]:
    """Writes rows (items, records, predictions) to a JSON-lines file, one per line, and returns its path."""
    return _write_jsonl


# Deprecations raised inside third-party code that llmcal only calls into, each with the reason it cannot
# be fixed here. Anything else deprecated while llmcal is on the stack fails the test that raised it.
_THIRD_PARTY_DEPRECATIONS = (
    # peft 0.21's PeftModel.__init__ asks the wrapped model is_gradient_checkpointing (renamed in
    # transformers 5.x); llmcal never calls it.
    "`is_gradient_checkpointing` is deprecated",
)


def _llmcal_on_stack() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("llmcal."):
            return True
        frame = frame.f_back
    return False


@pytest.fixture(autouse=True)
def _no_deprecated_calls_from_llmcal(monkeypatch):
    """Fails a test in which llmcal's code raised a DeprecationWarning or FutureWarning (its own, or one
    of a library it called): such a call breaks when the library removes the API, and users see it."""
    raised: list[str] = []
    show = warnings.showwarning

    def check(message, category, filename, lineno, file=None, line=None):
        if (
            issubclass(category, DeprecationWarning | FutureWarning)
            and _llmcal_on_stack()
            and not any(text in str(message) for text in _THIRD_PARTY_DEPRECATIONS)
        ):
            raised.append(f"{category.__name__} at {filename}:{lineno}: {message}")
        show(message, category, filename, lineno, file, line)

    monkeypatch.setattr(warnings, "showwarning", check)
    yield
    assert not raised, "llmcal made a deprecated call:\n" + "\n".join(raised)


@pytest.fixture
def unused_port() -> int:
    """A local port nothing listens on (bound, read and released: free unless raced)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
