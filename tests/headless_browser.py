"""Headless Chromium for the tests that look at a report as a reader would: find it, or skip (fail in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["dump_dom", "requires_chromium", "screenshot"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


requires_chromium = pytest.mark.skipif(
    _chromium() is None and not os.environ.get("LLMCAL_REQUIRE_CHROMIUM"),
    reason="needs Chromium (bash .ci/run installs Debian's chromium and requires this test)",
)
"""Marks a test that renders a page; ``LLMCAL_REQUIRE_CHROMIUM`` (set by .ci/run) makes it fail instead."""


def _browser() -> list[str]:
    browser = _chromium()
    assert browser is not None, "LLMCAL_REQUIRE_CHROMIUM is set but no chromium is on PATH"
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]


def dump_dom(page: Path) -> str:
    """The page's DOM after Chromium has loaded it."""
    return subprocess.run([*_browser(), "--dump-dom", page.as_uri()], capture_output=True, text=True,
                          timeout=120, check=True).stdout  # fmt: skip


def screenshot(page: Path, shot: Path, *, width: int = 1200, height: int = 2600) -> Path:
    """A PNG of the page's first ``height`` pixels at ``width``."""
    subprocess.run([*_browser(), f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    return shot
