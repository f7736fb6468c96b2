"""Where llmcal keeps what it can rebuild: knowledge worlds, de-quantized GGUF models."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$LLMCAL_CACHE_DIR``, else ``~/.cache/llmcal``."""
    return Path(os.environ.get("LLMCAL_CACHE_DIR", Path.home() / ".cache" / "llmcal"))
