"""The models a study part loads: one at a time, loaded on first use, so a resumed study loads none."""

from __future__ import annotations

import torch

from llmcal.process_memory import release_memory
from llmcal.scoring.hf import HFBackend

__all__ = ["ModelCache"]


class ModelCache:
    """Loads a model by name when first asked for it, keeping only the last one (float32, GPU if any)."""

    def __init__(self) -> None:
        self._name: str | None = None
        self._backend: HFBackend | None = None

    def get(self, name: str) -> HFBackend:
        """The backend of model ``name`` (a packaged name, a directory or a hub id)."""
        if self._name != name or self._backend is None:
            self._backend = None
            release_memory()
            device = "cuda" if torch.cuda.is_available() else "cpu"
            self._backend = HFBackend(name, device=device, dtype="float32")
            self._name = name
        return self._backend

    def clear(self) -> None:
        """Drops the loaded model."""
        self._name, self._backend = None, None
        release_memory()
